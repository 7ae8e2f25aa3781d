#!/usr/bin/env python3
"""Render a held-out composed-image-retrieval test split.

Top-down "3D render" look built from Fluent Emoji 3D sprites:
a grey floor with a light-side gradient, vignette and faint texture,
objects placed with a centre-biased rejection sampler, a slight camera
perspective (far objects a little smaller), per-scene key-light direction
that drives both floor gradient and soft drop shadows, contact shadows,
render grain and a JPEG round trip before the PNG is written.

Usage:
    python3 render.py --out DIR --seed 0 [--references 320]

Needs only Python 3.11, numpy and Pillow.
"""
import argparse
import csv
import math
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
_local = os.path.join(HERE, ".pylib")
if os.path.isdir(_local) and _local not in sys.path:
    sys.path.append(_local)  # local Pillow install, only used if Pillow is not importable otherwise

import numpy as np
from PIL import Image, ImageFilter

ART_DIR = "/work/main/.artwork/lobehub-fluent-emoji-3d-1.1.0/assets"
OBJ_TSV = "/work/main/pipeline/assets/objects.tsv"
W = H = 512

# ----------------------------------------------------------------------------------------------
# edit shapes: (n_add, n_remove) and the range of reference sizes for which both the reference
# and the target hold 2-5 objects (two-removal shapes keep at least one original object)
SHAPES = {
    (1, 1): (2, 5),
    (1, 0): (2, 4),
    (0, 1): (3, 5),
    (2, 1): (2, 4),
    (1, 2): (3, 5),
    (2, 2): (3, 5),
}
MAIN_SHAPE = (1, 1)
MAIN_FRACTION = 0.60
REF_SIZE_WEIGHTS = {2: 0.20, 3: 0.30, 4: 0.30, 5: 0.20}


# ----------------------------------------------------------------------------------------------
# objects
def load_objects():
    files = set(os.listdir(ART_DIR))
    objs = []
    with open(OBJ_TSV, newline="", encoding="utf-8") as f:
        rd = csv.reader(f, delimiter="\t")
        header = next(rd)
        for row in rd:
            if len(row) < 2:
                continue
            cp, name = row[0].strip(), row[1].strip()
            parts = [p.lower() for p in cp.replace("-", " ").split()]
            cands = ["-".join(parts) + ".webp", "-".join(parts + ["fe0f"]) + ".webp"]
            if len(parts) > 1:
                cands.append("-".join(parts[:1] + ["fe0f"] + parts[1:]) + ".webp")
            for c in cands:
                if c in files:
                    objs.append((name, os.path.join(ART_DIR, c)))
                    break
    return objs


_SPRITES = {}


def sprite(path):
    """RGBA float32 array cropped to its alpha bounding box (cached)."""
    sp = _SPRITES.get(path)
    if sp is None:
        im = Image.open(path).convert("RGBA")
        bbox = im.getchannel("A").point(lambda v: 255 if v > 8 else 0).getbbox()
        if bbox:
            im = im.crop(bbox)
        sp = im
        _SPRITES[path] = sp
    return sp


# ----------------------------------------------------------------------------------------------
# text
def with_article(name, art):
    if art == "a" and name[:1].lower() in "aeiou":
        return "an " + name
    return art + " " + name


def join_list(items):
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def make_text(rng, adds, removes):
    a = join_list([with_article(n, "a") for n in adds]) if adds else None
    r = join_list([with_article(n, "the") for n in removes]) if removes else None
    if a and r:
        text = f"add {a} and remove {r}" if rng.random() < 0.5 else f"remove {r} and add {a}"
    elif a:
        text = f"add {a}"
    else:
        text = f"remove {r}"
    if rng.random() < 0.5:
        text = text[0].upper() + text[1:]
    return text


# ----------------------------------------------------------------------------------------------
# layout
def scene_params(rng):
    """Everything that belongs to the 'set' of a scene and stays fixed across its edits."""
    light_az = rng.uniform(0.0, 2.0 * math.pi)          # direction the light comes FROM (image plane)
    base = rng.uniform(150.0, 192.0)                      # floor grey level
    tint = np.array([rng.uniform(-4, 4), rng.uniform(-3, 3), rng.uniform(-5, 5)])
    return {
        "light_az": light_az,
        "floor_base": base,
        "floor_tint": tint,
        "grad_amp": rng.uniform(0.05, 0.12),             # floor brighter towards the light
        "vignette": rng.uniform(0.06, 0.16),
        "tex_amp": rng.uniform(0.010, 0.025),
        "tex_seed": rng.randrange(1 << 30),
        "obj_size": rng.uniform(104.0, 134.0),            # longest side of a sprite at image centre
        "persp": rng.uniform(0.06, 0.14),                 # far (top) objects smaller by this fraction
        "shadow_off": rng.uniform(0.05, 0.11),            # as a fraction of object size
        "shadow_blur": rng.uniform(0.035, 0.07),
        "shadow_op": rng.uniform(0.30, 0.48),
        "ao_op": rng.uniform(0.12, 0.22),
        "exposure": rng.uniform(0.94, 1.06),
        "cluster": (rng.gauss(0.0, 22.0), rng.gauss(0.0, 22.0)),
        "spread": rng.uniform(0.17, 0.24) * W,
    }


def obj_size(sp, y, jit):
    return sp["obj_size"] * jit * (1.0 + sp["persp"] * (y / H - 0.5))


def place(rng, sp, existing, jit):
    """Centre-biased rejection sampling; overlap allowed up to a small amount."""
    cx = W / 2 + sp["cluster"][0]
    cy = H / 2 + sp["cluster"][1]
    tol = 0.86
    for attempt in range(600):
        if attempt and attempt % 150 == 0:
            tol -= 0.08                                    # relax if crowded
        x = rng.gauss(cx, sp["spread"])
        y = rng.gauss(cy, sp["spread"])
        s = obj_size(sp, y, jit)
        r = 0.5 * s
        m = 0.5 * s + 6
        if not (m <= x <= W - m and m <= y <= H - m):
            continue
        ok = True
        for o in existing:
            ro = 0.5 * obj_size(sp, o["y"], o["jit"])
            if math.hypot(x - o["x"], y - o["y"]) < tol * (r + ro) * 0.9:
                ok = False
                break
        if ok:
            return x, y
    # fallback: best of random uniform points
    best, bd = None, -1
    for _ in range(200):
        x, y = rng.uniform(70, W - 70), rng.uniform(70, H - 70)
        d = min([math.hypot(x - o["x"], y - o["y"]) for o in existing] or [1e9])
        if d > bd:
            best, bd = (x, y), d
    return best


def new_object(rng, sp, name, existing):
    jit = min(1.2, max(0.82, math.exp(rng.gauss(0.0, 0.10))))
    x, y = place(rng, sp, existing, jit)
    return {"name": name, "x": x, "y": y, "jit": jit, "rot": rng.uniform(-28.0, 28.0)}


# ----------------------------------------------------------------------------------------------
# rendering
def floor(sp):
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    u = (xx - W / 2) / (W / 2)
    v = (yy - H / 2) / (H / 2)
    lx, ly = math.cos(sp["light_az"]), math.sin(sp["light_az"])
    grad = 1.0 + sp["grad_amp"] * 0.5 * (u * lx + v * ly)
    vig = 1.0 - sp["vignette"] * np.clip((u * u + v * v) / 2.0, 0, 1) ** 1.2
    trng = np.random.default_rng(sp["tex_seed"])
    small = Image.fromarray((trng.random((12, 12)) * 255).astype(np.uint8), "L")
    tex = np.asarray(small.resize((W, H), Image.BICUBIC).filter(ImageFilter.GaussianBlur(18)), np.float32)
    tex = (tex / 255.0 - 0.5) * 2.0
    shade = grad * vig * (1.0 + sp["tex_amp"] * tex)
    base = sp["floor_base"] + sp["floor_tint"]
    return shade[..., None] * base[None, None, :].astype(np.float32)


def object_layer(objs_by_name, sp, o):
    im = sprite(objs_by_name[o["name"]])
    s = obj_size(sp, o["y"], o["jit"])
    w, h = im.size
    k = s / max(w, h)
    im = im.convert("RGBa").resize((max(1, round(w * k)), max(1, round(h * k))), Image.LANCZOS)
    im = im.rotate(o["rot"], resample=Image.BICUBIC, expand=True)
    im = im.convert("RGBA")
    a = np.asarray(im, np.float32) / 255.0
    return a[..., :3] * 255.0, a[..., 3], s


def paste_mask(canvas_mask, mask, x0, y0):
    h, w = mask.shape
    X0, Y0 = max(0, x0), max(0, y0)
    X1, Y1 = min(W, x0 + w), min(H, y0 + h)
    if X1 <= X0 or Y1 <= Y0:
        return
    canvas_mask[Y0:Y1, X0:X1] = np.maximum(canvas_mask[Y0:Y1, X0:X1], mask[Y0 - y0:Y1 - y0, X0 - x0:X1 - x0])


def blur(mask, radius):
    pad = int(3 * radius) + 2
    m = np.pad(mask, pad)
    im = Image.fromarray(np.clip(m * 255, 0, 255).astype(np.uint8), "L").filter(ImageFilter.GaussianBlur(radius))
    return np.asarray(im, np.float32) / 255.0, pad


def render(path, sp, objs, objs_by_name, grain_seed, quality=92):
    img = floor(sp)
    layers = [(o, *object_layer(objs_by_name, sp, o)) for o in objs]
    # shadows fall away from the light
    lx, ly = math.cos(sp["light_az"]), math.sin(sp["light_az"])
    drop = np.zeros((H, W), np.float32)
    ao = np.zeros((H, W), np.float32)
    for o, rgb, a, s in layers:
        h, w = a.shape
        x0 = int(round(o["x"] - w / 2))
        y0 = int(round(o["y"] - h / 2))
        m, pad = blur(a, max(1.0, sp["shadow_blur"] * s))
        off = sp["shadow_off"] * s
        paste_mask(drop, m, x0 - pad - int(round(off * lx)), y0 - pad - int(round(off * ly)))
        m2, pad2 = blur(a * 0.9, max(1.0, 0.10 * s))
        paste_mask(ao, m2, x0 - pad2, y0 - pad2)
    img *= (1.0 - sp["shadow_op"] * drop)[..., None]
    img *= (1.0 - sp["ao_op"] * ao)[..., None]
    # objects, far (top) to near (bottom)
    for o, rgb, a, s in sorted(layers, key=lambda t: t[0]["y"]):
        h, w = a.shape
        x0 = int(round(o["x"] - w / 2))
        y0 = int(round(o["y"] - h / 2))
        X0, Y0 = max(0, x0), max(0, y0)
        X1, Y1 = min(W, x0 + w), min(H, y0 + h)
        if X1 <= X0 or Y1 <= Y0:
            continue
        aa = a[Y0 - y0:Y1 - y0, X0 - x0:X1 - x0, None]
        # key light brightens the lit side of each object a little
        yy, xx = np.mgrid[Y0:Y1, X0:X1].astype(np.float32)
        lit = 1.0 + 0.06 * ((xx - o["x"]) * lx + (yy - o["y"]) * ly) / (0.5 * s)
        cc = rgb[Y0 - y0:Y1 - y0, X0 - x0:X1 - x0] * lit[..., None]
        img[Y0:Y1, X0:X1] = img[Y0:Y1, X0:X1] * (1 - aa) + cc * aa
    img *= sp["exposure"]
    grng = np.random.default_rng(grain_seed)
    img += grng.normal(0.0, 1.6, size=(H, W, 1)).astype(np.float32)
    out = Image.fromarray(np.clip(img + 0.5, 0, 255).astype(np.uint8), "RGB")
    # delivery compression: JPEG round trip, stored as PNG
    import io
    buf = io.BytesIO()
    out.save(buf, "JPEG", quality=quality, subsampling=2)
    buf.seek(0)
    Image.open(buf).convert("RGB").save(path, "PNG", compress_level=3)


# ----------------------------------------------------------------------------------------------
# split planning
def plan(rng, names, n_refs):
    ks = [2 if rng.random() < 0.5 else 3 for _ in range(n_refs)]
    total = sum(ks)
    others = [s for s in SHAPES if s != MAIN_SHAPE]
    n_main = round(MAIN_FRACTION * total)
    rest = total - n_main
    shapes = [MAIN_SHAPE] * n_main
    for i, s in enumerate(others):
        shapes += [s] * (rest // len(others) + (1 if i < rest % len(others) else 0))
    rng.shuffle(shapes)

    used = set()
    refs = []
    pos = 0
    for k in ks:
        my = shapes[pos:pos + k]
        pos += k
        lo = max(SHAPES[s][0] for s in my)
        hi = min(SHAPES[s][1] for s in my)
        sizes = [n for n in REF_SIZE_WEIGHTS if lo <= n <= hi]
        for _ in range(1000):
            n = rng.choices(sizes, weights=[REF_SIZE_WEIGHTS[n] for n in sizes])[0]
            ref = rng.sample(names, n)
            fs = frozenset(ref)
            if fs in used:
                continue
            edits = []
            tsets = set()
            ok = True
            for j, (na, nr) in enumerate(my):
                for _ in range(200):
                    pool_r = list(ref)
                    removes = []
                    # siblings share an object now and then (hardest negatives)
                    if edits and nr and rng.random() < 0.5:
                        prev = [x for e in edits for x in e[1]]
                        if prev:
                            removes.append(rng.choice(prev))
                    while len(removes) < nr:
                        c = rng.choice(pool_r)
                        if c not in removes:
                            removes.append(c)
                    adds = []
                    if edits and na and rng.random() < 0.35:
                        prev = [x for e in edits for x in e[0]]
                        if prev:
                            adds.append(rng.choice(prev))
                    while len(adds) < na:
                        c = rng.choice(names)
                        if c not in ref and c not in adds:
                            adds.append(c)
                    tgt = frozenset((fs - set(removes)) | set(adds))
                    if tgt in used or tgt in tsets or tgt == fs:
                        continue
                    edits.append((adds, removes))
                    tsets.add(tgt)
                    break
                else:
                    ok = False
                    break
            if not ok:
                continue
            used.add(fs)
            used |= tsets
            refs.append((ref, edits))
            break
        else:
            raise RuntimeError("could not plan a reference")
    return refs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--references", type=int, default=320)
    args = ap.parse_args()
    t0 = time.time()

    objs = load_objects()
    objs_by_name = dict(objs)
    names = [n for n, _ in objs]
    rng = random.Random(args.seed)
    refs = plan(rng, names, args.references)

    n_images = sum(1 + len(e) for _, e in refs)
    ids = list(range(n_images))
    rng.shuffle(ids)                                      # file names say nothing about roles
    ids = iter(ids)
    img_dir = os.path.join(args.out, "images")
    os.makedirs(img_dir, exist_ok=True)

    data_rows, q_rows, s_rows = [], [], []
    for ri, (ref, edits) in enumerate(refs):
        srng = random.Random(f"{args.seed}:scene:{ri}")
        sp = scene_params(srng)
        placed = []
        for name in ref:
            placed.append(new_object(srng, sp, name, placed))
        ref_file = f"{args.seed:02d}_{next(ids):05d}.png"
        render(os.path.join(img_dir, ref_file), sp, placed, objs_by_name, srng.randrange(1 << 30))
        s_rows.append((ref_file, "|".join(o["name"] for o in placed)))
        for ei, (adds, removes) in enumerate(edits):
            erng = random.Random(f"{args.seed}:edit:{ri}:{ei}")
            kept = [dict(o) for o in placed if o["name"] not in removes]
            for name in adds:
                kept.append(new_object(erng, sp, name, kept))
            tgt_file = f"{args.seed:02d}_{next(ids):05d}.png"
            render(os.path.join(img_dir, tgt_file), sp, kept, objs_by_name, erng.randrange(1 << 30))
            s_rows.append((tgt_file, "|".join(o["name"] for o in kept)))
            text = make_text(erng, adds, removes)
            data_rows.append((ref_file, text, tgt_file))
            q_rows.append((ref_file, tgt_file, "|".join(adds), "|".join(removes)))

    def write(fn, header, rows):
        with open(os.path.join(args.out, fn), "w", newline="", encoding="utf-8") as f:
            wr = csv.writer(f)
            wr.writerow(header)
            wr.writerows(rows)

    write("data.csv", ["query_image", "query_text", "target_image"], data_rows)
    write("queries.csv", ["query_image", "target_image", "add", "remove"], q_rows)
    write("scenes.csv", ["image", "objects"], sorted(s_rows))
    print(f"{len(refs)} references, {len(data_rows)} queries, {len(s_rows)} images "
          f"in {time.time() - t0:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
