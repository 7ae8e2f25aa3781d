#!/usr/bin/env python3
"""Render a held-out composed-image-retrieval split drawn in many looks.

Usage:
    python3 render.py --out DIR --seed 0 [--references 330]

Writes DIR/images/*.png (512x512 RGB), DIR/data.csv, DIR/queries.csv and DIR/scenes.csv.
Every random choice is made in main() from the seed; render() is a pure function of its
arguments (it seeds its own noise from look["seed"]).
"""
import argparse
import colorsys
import csv
import io
import math
import os
import random
import sys
import time

import numpy as np
from PIL import Image, ImageFilter

ART_DIR = "/work/main/.artwork/lobehub-fluent-emoji-3d-1.1.0/assets"
OBJECTS_TSV = "/work/main/pipeline/assets/objects.tsv"

SIZE = 512
TILT_PAD = 170

AXES = [
    "floor_color",
    "floor_texture",
    "color_cast",
    "lighting",
    "toon",
    "low_fidelity",
    "film_grain",
    "camera_tilt",
]

# (adds, removes) -> share of queries
SHAPES = [(1, 1), (1, 0), (0, 1), (2, 1), (1, 2), (2, 2)]
MAIN_SHAPE_SHARE = 0.60

MIN_OBJ, MAX_OBJ = 2, 5


# ----------------------------------------------------------------------------------------
# artwork
# ----------------------------------------------------------------------------------------

def load_objects(tsv_path, art_dir):
    """(name, file name) for each listed object whose picture exists."""
    files = set(os.listdir(art_dir))
    out = []
    with open(tsv_path, encoding="utf-8") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))
    for row in rows[1:]:
        if len(row) < 2:
            continue
        cp, name = row[0].strip(), row[1].strip()
        base = "-".join(p.lower() for p in cp.replace("-", " ").split())
        for cand in (base + ".webp", base + "-fe0f.webp"):
            if cand in files:
                out.append((name, cand))
                break
    return out


_SPRITE_CACHE = {}


def _sprite_source(path):
    """RGBA picture cropped to its visible part (cached, read-only)."""
    im = _SPRITE_CACHE.get(path)
    if im is None:
        im = Image.open(path).convert("RGBA")
        bbox = im.getchannel("A").point(lambda v: 255 if v > 8 else 0).getbbox()
        if bbox:
            im = im.crop(bbox)
        im.load()
        _SPRITE_CACHE[path] = im
    return im


def _sprite(path, size, angle):
    """Premultiplied-safe resize + rotate; returns float rgb (h,w,3) and alpha (h,w)."""
    src = _sprite_source(path)
    w, h = src.size
    k = size / max(w, h)
    nw, nh = max(1, round(w * k)), max(1, round(h * k))
    im = src.resize((nw, nh), Image.LANCZOS)
    if abs(angle) > 0.01:
        im = im.convert("RGBa").rotate(angle, resample=Image.BICUBIC, expand=True).convert("RGBA")
    arr = np.asarray(im, dtype=np.float32) / 255.0
    return arr[..., :3].copy(), arr[..., 3].copy()


# ----------------------------------------------------------------------------------------
# small image helpers
# ----------------------------------------------------------------------------------------

def _smooth_noise(rng, size, cells):
    small = rng.random((cells + 1, cells + 1)).astype(np.float32)
    im = Image.fromarray(small, "F").resize((size, size), Image.BICUBIC)
    return np.asarray(im, dtype=np.float32)


def _fbm(rng, size, cells=4, octaves=4):
    acc = np.zeros((size, size), np.float32)
    amp, tot = 1.0, 0.0
    for _ in range(octaves):
        acc += amp * _smooth_noise(rng, size, cells)
        tot += amp
        amp *= 0.5
        cells *= 2
    acc /= tot
    acc -= acc.min()
    acc /= max(1e-6, acc.max())
    return acc


def _hsv(h, s, v):
    return np.array(colorsys.hsv_to_rgb(h % 1.0, min(1, max(0, s)), min(1, max(0, v))), np.float32)


def _gauss(arr2d, radius):
    """Separable gaussian blur of a float 2-D array (edges clamped)."""
    if radius <= 0.05:
        return arr2d
    r = max(1, int(math.ceil(radius * 3)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / radius) ** 2).astype(np.float32)
    k /= k.sum()
    out = arr2d.astype(np.float32)
    for axis in (0, 1):
        p = np.pad(out, [(r, r) if a == axis else (0, 0) for a in (0, 1)], mode="edge")
        acc = np.zeros_like(out)
        n = out.shape[axis]
        for i, w in enumerate(k):
            acc += w * (p[i:i + n] if axis == 0 else p[:, i:i + n])
        out = acc
    return out


def _grid(size):
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    return xx, yy


def _falloff(size, look, pad):
    """The soft light pool every render has: brighter near a point, darker at the corners."""
    xx, yy = _grid(size)
    cx = look["pool_x"] + pad
    cy = look["pool_y"] + pad
    d2 = ((xx - cx) ** 2 + (yy - cy) ** 2) / (SIZE * SIZE * 0.5)
    return (1.0 - look["pool_fall"] * np.clip(d2, 0, 2.5)).astype(np.float32)


# ----------------------------------------------------------------------------------------
# floors
# ----------------------------------------------------------------------------------------

def _texture_mask(kind, size, p, rng):
    xx, yy = _grid(size)
    th = p["tex_angle"]
    u = xx * math.cos(th) + yy * math.sin(th) + p["tex_shift"]
    v = -xx * math.sin(th) + yy * math.cos(th) + p["tex_shift"] * 0.7
    sc = p["tex_scale"]
    table = rng.random(8192).astype(np.float32)

    def cellhash(a, b):
        idx = np.mod(a.astype(np.int64) * 73856093 + b.astype(np.int64) * 19349663, 8192)
        return table[idx]

    if kind == "checker":
        c = 30 + 70 * sc
        m = np.mod(np.floor(u / c) + np.floor(v / c), 2)
    elif kind == "stripes":
        w = 10 + 40 * sc
        m = 0.5 + 0.5 * np.sin(u / w * math.pi)
        m = np.clip((m - 0.5) * 4 + 0.5, 0, 1)
    elif kind == "planks":
        h = 36 + 50 * sc
        ln = 160 + 200 * sc
        row = np.floor(v / h)
        off = cellhash(row, row * 0 + 7) * ln
        col = np.floor((u + off) / ln)
        shade = cellhash(row, col)
        noise = _fbm(rng, size, 3, 3)
        grain = 0.5 + 0.5 * np.sin((v + noise * 40) * (0.25 + 0.2 * sc) + shade * 9)
        m = 0.55 * shade + 0.3 * grain
        seam = (np.mod(v, h) < 2.0) | (np.mod(u + off, ln) < 2.0)
        m = np.where(seam, 1.0, m)
    elif kind == "tiles":
        t = 44 + 70 * sc
        g = 2.0 + 3.0 * sc
        ti, tj = np.floor(u / t), np.floor(v / t)
        shade = cellhash(ti, tj) * 0.35
        grout = (np.mod(u, t) < g) | (np.mod(v, t) < g)
        m = np.where(grout, 1.0, shade)
    elif kind == "dots":
        d = 28 + 45 * sc
        r = d * (0.18 + 0.14 * p["tex_extra"])
        fu = np.mod(u, d) - d / 2
        fv = np.mod(v, d) - d / 2
        dist = np.sqrt(fu * fu + fv * fv)
        m = np.clip(r - dist + 0.5, 0, 1)
    elif kind == "marble":
        n = _fbm(rng, size, 3, 5)
        m = 0.5 + 0.5 * np.sin(u / (25 + 50 * sc) + n * 9)
        m = m ** 3
    elif kind == "speckle":
        n = rng.random((size, size)).astype(np.float32)
        n = _gauss(n, 0.7)
        base = _fbm(rng, size, 6, 3)
        m = np.clip((n - 0.5) * 3 + 0.5, 0, 1) * 0.7 + base * 0.3
    else:  # hexish weave
        w = 14 + 20 * sc
        a = 0.5 + 0.5 * np.sin(u / w * math.pi)
        b = 0.5 + 0.5 * np.sin(v / w * math.pi)
        m = np.where(np.mod(np.floor(u / (2 * w)) + np.floor(v / (2 * w)), 2) == 0, a, b)
    return m.astype(np.float32)


def _floor(size, look, pad, rng):
    axis = look["axis"]
    grey = look["grey"]
    base = np.array([grey + look["grey_tint"][i] for i in range(3)], np.float32)
    pool = _falloff(size, look, pad)
    if axis == "floor_color":
        base = _hsv(look["floor_h"], look["floor_s"], look["floor_v"])
        img = base[None, None, :] * pool[..., None]
        if look["floor_grad"] > 0:
            xx, yy = _grid(size)
            th = look["floor_grad_angle"]
            t = ((xx - pad) * math.cos(th) + (yy - pad) * math.sin(th)) / SIZE
            other = _hsv(look["floor_h"] + look["floor_grad_dh"], look["floor_s"], look["floor_v"])
            w = np.clip(t * look["floor_grad"], 0, 1)[..., None]
            img = img * (1 - w) + other[None, None, :] * pool[..., None] * w
    elif axis == "floor_texture":
        c1 = _hsv(look["tex_h1"], look["tex_s1"], look["tex_v1"])
        c2 = _hsv(look["tex_h2"], look["tex_s2"], look["tex_v2"])
        m = _texture_mask(look["tex_kind"], size, look, rng)
        k = look["tex_contrast"]
        img = c1[None, None, :] * (1 - k * m[..., None]) + c2[None, None, :] * (k * m[..., None])
        img = img * pool[..., None]
    elif axis == "toon":
        img = np.broadcast_to(base, (size, size, 3)).astype(np.float32).copy()
    else:
        img = base[None, None, :] * pool[..., None]
    # a whisper of render noise on every floor
    img = img + (rng.standard_normal((size, size, 1)).astype(np.float32) * 0.004)
    return np.ascontiguousarray(img, dtype=np.float32)


# ----------------------------------------------------------------------------------------
# object treatments
# ----------------------------------------------------------------------------------------

def _toon_sprite(rgb, alpha, look):
    lv = look["toon_levels"]
    # saturate a little
    grey = rgb.mean(axis=2, keepdims=True)
    rgb = np.clip(grey + (rgb - grey) * look["toon_sat"], 0, 1)
    q = np.round(rgb * (lv - 1)) / (lv - 1)
    rgb = q
    a = (alpha > 0.5).astype(np.float32)
    th = look["toon_outline"]
    pad = th + 2
    a_p = np.pad(a, pad)
    rgb_p = np.pad(rgb, ((pad, pad), (pad, pad), (0, 0)))
    dil = np.asarray(
        Image.fromarray((a_p * 255).astype(np.uint8)).filter(ImageFilter.MaxFilter(2 * th + 1)),
        np.float32) / 255.0
    ink = np.array(look["toon_ink"], np.float32)
    out = rgb_p * a_p[..., None] + ink[None, None, :] * (1 - a_p[..., None])
    return out, dil, pad


# ----------------------------------------------------------------------------------------
# the render
# ----------------------------------------------------------------------------------------

def render(out_path, objects, look, art_dir=ART_DIR):
    """Write one 512x512 RGB PNG.

    objects: list of dicts with keys name, file, x, y (centre, pixels), size (pixels), angle (deg).
    look:    dict of look parameters as drawn by draw_look(); look["seed"] seeds all noise.
    """
    axis = look["axis"]
    pad = TILT_PAD if axis == "camera_tilt" else 0
    size = SIZE + 2 * pad
    rng = np.random.default_rng(look["seed"])

    img = _floor(size, look, pad, rng)

    # sprites, back to front (by y, then name)
    sprites = []
    for o in sorted(objects, key=lambda o: (o["y"], o["name"])):
        rgb, alpha = _sprite(os.path.join(art_dir, o["file"]), o["size"], o["angle"])
        extra = 0
        if axis == "toon":
            rgb, alpha, extra = _toon_sprite(rgb, alpha, look)
        h, w = alpha.shape
        x0 = int(round(o["x"] + pad - w / 2))
        y0 = int(round(o["y"] + pad - h / 2))
        sprites.append((rgb, alpha, x0, y0))

    # shadows
    def shadow_layer(dx, dy, blur, scale=1.0):
        layer = Image.new("L", (size, size), 0)
        for rgb, alpha, x0, y0 in sprites:
            am = Image.fromarray((alpha * 255).astype(np.uint8), "L")
            if scale != 1.0:
                w, h = am.size
                am = am.resize((max(1, int(w * scale)), max(1, int(h * scale))), Image.BILINEAR)
                x0 += (w - am.size[0]) // 2
                y0 += (h - am.size[1]) // 2
            layer.paste(255, (int(x0 + dx), int(y0 + dy)), mask=am)
        if blur > 0.05:
            layer = layer.filter(ImageFilter.GaussianBlur(blur))
        return np.asarray(layer, np.float32) / 255.0

    sdx, sdy = look["shadow_dx"], look["shadow_dy"]
    s1 = shadow_layer(sdx, sdy, look["shadow_blur"]) * look["shadow_opacity"]
    s2 = shadow_layer(sdx * 0.25, sdy * 0.25, look["contact_blur"], 0.92) * look["contact_opacity"]
    shadow = 1.0 - (1.0 - s1) * (1.0 - s2)
    tint = np.array(look["shadow_rgb"], np.float32)
    img = img * (1.0 - shadow[..., None] * tint[None, None, :])

    # objects
    for rgb, alpha, x0, y0 in sprites:
        h, w = alpha.shape
        xa, ya = max(0, x0), max(0, y0)
        xb, yb = min(size, x0 + w), min(size, y0 + h)
        if xb <= xa or yb <= ya:
            continue
        a = alpha[ya - y0:yb - y0, xa - x0:xb - x0, None]
        c = rgb[ya - y0:yb - y0, xa - x0:xb - x0]
        img[ya:yb, xa:xb] = img[ya:yb, xa:xb] * (1 - a) + c * a

    # whole-picture treatments
    if axis == "lighting":
        xx, yy = _grid(size)
        d2 = ((xx - look["light_x"]) ** 2 + (yy - look["light_y"]) ** 2) / (2 * look["light_sigma"] ** 2)
        spot = np.exp(-d2)
        amb = look["light_ambient"]
        lvl = (amb + (1 - amb) * spot) * look["light_gain"]
        col = np.array(look["light_rgb"], np.float32)
        dark = np.array(look["ambient_rgb"], np.float32)
        lit = spot[..., None] * col[None, None, :] + (1 - spot[..., None]) * dark[None, None, :]
        img = img * lvl[..., None] * lit
    elif axis == "color_cast":
        gain = np.array(look["cast_gain"], np.float32)
        cast = np.array(look["cast_rgb"], np.float32)
        k = look["cast_mix"]
        img = img * gain[None, None, :]
        img = img * (1 - k) + cast[None, None, :] * k * (0.35 + 0.65 * img.mean(axis=2, keepdims=True))

    img = np.clip(img, 0, 1)

    if axis == "camera_tilt":
        im = Image.fromarray((img * 255 + 0.5).astype(np.uint8), "RGB")
        im = im.transform((SIZE, SIZE), Image.PERSPECTIVE, look["tilt_coeffs"], Image.BICUBIC)
        img = np.asarray(im, np.float32) / 255.0
    elif axis == "film_grain":
        xx, yy = _grid(SIZE)
        r2 = ((xx - SIZE / 2) ** 2 + (yy - SIZE / 2) ** 2) / ((SIZE / 2) ** 2 * 2)
        vig = 1 - look["grain_vignette"] * np.clip(r2, 0, 1) ** 1.2
        img = img * vig[..., None]
        img = look["grain_lift"] + img * (1 - look["grain_lift"] - look["grain_fade"])
        if look["grain_blur"] > 0.05:
            im = Image.fromarray((img * 255 + 0.5).astype(np.uint8), "RGB")
            im = im.filter(ImageFilter.GaussianBlur(look["grain_blur"]))
            img = np.asarray(im, np.float32) / 255.0
        sig = look["grain_sigma"]
        g_l = rng.standard_normal((SIZE, SIZE, 1)).astype(np.float32)
        g_c = rng.standard_normal((SIZE, SIZE, 3)).astype(np.float32)
        if look["grain_clump"]:
            g_l = _gauss(g_l[..., 0], 0.8)[..., None] * 1.8
        grain = g_l * (1 - look["grain_chroma"]) + g_c * look["grain_chroma"]
        img = img + grain * sig * (0.6 + 0.8 * np.sqrt(np.clip(img.mean(axis=2, keepdims=True), 0, 1)))
        img = np.clip(img, 0, 1)

    im = Image.fromarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8), "RGB")

    if axis == "low_fidelity":
        f = look["lofi_scale"]
        small = (max(16, int(SIZE * f)), max(16, int(SIZE * f)))
        im = im.resize(small, Image.BOX)
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=look["lofi_quality"], subsampling=1)
        buf.seek(0)
        im = Image.open(buf).convert("RGB")
        im = im.resize((SIZE, SIZE), Image.NEAREST if look["lofi_nearest"] else Image.BILINEAR)
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=min(95, look["lofi_quality"] + 25))
        buf.seek(0)
        im = Image.open(buf).convert("RGB")

    im.save(out_path, "PNG", compress_level=3)


# ----------------------------------------------------------------------------------------
# look parameters (drawn in main, per reference scene)
# ----------------------------------------------------------------------------------------

def _perspective_coeffs(dst_quad):
    """Coefficients mapping output corners (0,0),(S,0),(S,S),(0,S) to the input quad."""
    src = [(0, 0), (SIZE, 0), (SIZE, SIZE), (0, SIZE)]
    A, b = [], []
    for (x, y), (u, v) in zip(src, dst_quad):
        A.append([x, y, 1, 0, 0, 0, -u * x, -u * y]); b.append(u)
        A.append([0, 0, 0, x, y, 1, -v * x, -v * y]); b.append(v)
    return [float(c) for c in np.linalg.solve(np.array(A, float), np.array(b, float))]


def _inside_convex(quad, pt):
    sign = 0
    for i in range(4):
        (x1, y1), (x2, y2) = quad[i], quad[(i + 1) % 4]
        cr = (x2 - x1) * (pt[1] - y1) - (y2 - y1) * (pt[0] - x1)
        if abs(cr) < 1e-9:
            continue
        s = 1 if cr > 0 else -1
        if sign == 0:
            sign = s
        elif s != sign:
            return False
    return True


def draw_look(rng, axis):
    s = rng.uniform(0.25, 1.0) if axis != "plain" else 0.0
    L = {"axis": axis, "strength": round(s, 4), "seed": rng.randrange(2 ** 31)}
    # plain defaults (every look starts from these)
    L["grey"] = rng.uniform(0.55, 0.76)
    L["grey_tint"] = [rng.uniform(-0.012, 0.012) for _ in range(3)]
    L["pool_x"] = SIZE / 2 + rng.uniform(-60, 60)
    L["pool_y"] = SIZE / 2 + rng.uniform(-60, 60)
    L["pool_fall"] = rng.uniform(0.04, 0.12)
    ang = math.radians(rng.uniform(35, 70))
    ln = rng.uniform(5, 10)
    L["shadow_dx"] = ln * math.cos(ang)
    L["shadow_dy"] = ln * math.sin(ang)
    L["shadow_blur"] = rng.uniform(6, 10)
    L["shadow_opacity"] = rng.uniform(0.35, 0.5)
    L["contact_blur"] = rng.uniform(2.0, 3.5)
    L["contact_opacity"] = rng.uniform(0.2, 0.3)
    L["shadow_rgb"] = [1.0, 1.0, 1.0]

    if axis == "floor_color":
        L["floor_h"] = rng.random()
        L["floor_s"] = 0.2 + 0.75 * s * rng.uniform(0.7, 1.0)
        L["floor_v"] = rng.uniform(0.3, 0.95)
        L["floor_grad"] = rng.choice([0.0, 0.0, rng.uniform(0.3, 1.0)])
        L["floor_grad_angle"] = rng.uniform(0, 2 * math.pi)
        L["floor_grad_dh"] = rng.uniform(-0.15, 0.15)
    elif axis == "floor_texture":
        L["tex_kind"] = rng.choice(["checker", "stripes", "planks", "tiles", "dots", "marble",
                                    "speckle", "weave"])
        L["tex_angle"] = rng.choice([0.0, math.pi / 4, rng.uniform(0, math.pi)])
        L["tex_shift"] = rng.uniform(0, 200)
        L["tex_scale"] = rng.random()
        L["tex_extra"] = rng.random()
        h = rng.random()
        L["tex_h1"], L["tex_s1"], L["tex_v1"] = h, rng.uniform(0.0, 0.6), rng.uniform(0.45, 0.9)
        if rng.random() < 0.5:  # same hue, other shade
            L["tex_h2"], L["tex_s2"] = h, min(1, L["tex_s1"] + rng.uniform(0, 0.3))
            L["tex_v2"] = L["tex_v1"] * rng.uniform(0.35, 0.7)
        else:
            L["tex_h2"], L["tex_s2"], L["tex_v2"] = rng.random(), rng.uniform(0.1, 0.8), rng.uniform(0.3, 0.9)
        L["tex_contrast"] = 0.3 + 0.7 * s
    elif axis == "color_cast":
        h = rng.random()
        c = _hsv(h, 1.0, 1.0)
        c = c / c.mean()
        g = 1 + (c - 1) * (0.12 + 0.3 * s)
        g = g / (0.4 + 0.6 * g.mean())
        L["cast_gain"] = [float(x) for x in g]
        L["cast_rgb"] = [float(x) for x in _hsv(h + rng.uniform(-0.05, 0.05), 0.8, 1.0)]
        L["cast_mix"] = 0.04 + 0.16 * s
    elif axis == "lighting":
        phi = rng.uniform(0, 2 * math.pi)
        dist = rng.uniform(120, 420)
        L["light_x"] = SIZE / 2 + dist * math.cos(phi)
        L["light_y"] = SIZE / 2 + dist * math.sin(phi)
        L["light_sigma"] = rng.uniform(180, 420)
        L["light_ambient"] = 1 - (0.2 + 0.45 * s) * rng.uniform(0.7, 1.0)
        L["light_gain"] = rng.uniform(0.9, 1.35)
        ln = 8 + 34 * s * rng.uniform(0.5, 1.0)
        L["shadow_dx"] = -ln * math.cos(phi)
        L["shadow_dy"] = -ln * math.sin(phi)
        L["shadow_blur"] = rng.choice([rng.uniform(1, 4), rng.uniform(4, 16)])
        L["shadow_opacity"] = 0.3 + 0.4 * s
        L["contact_opacity"] = rng.uniform(0.2, 0.35)
        hue = rng.choice([rng.uniform(0.05, 0.14), rng.uniform(0.52, 0.66), rng.random()])
        col = _hsv(hue, (0.1 + 0.35 * s) * rng.uniform(0.6, 1.0), 1.0)
        col = col / col.max()
        L["light_rgb"] = [float(x) for x in col]
        amb = _hsv(hue + 0.5, (0.05 + 0.25 * s) * rng.uniform(0.5, 1.0), 1.0)
        amb = amb / amb.max()
        L["ambient_rgb"] = [float(x) for x in amb]
        L["shadow_rgb"] = [float(1 - 0.5 * (1 - x)) for x in amb]
    elif axis == "toon":
        L["toon_levels"] = int(round(7 - 3 * s))
        L["toon_sat"] = 1.05 + 0.35 * s
        L["toon_outline"] = int(round(1 + 3 * s))
        L["toon_ink"] = [0.06, 0.05, 0.08] if rng.random() < 0.7 else [0.2, 0.12, 0.08]
        L["shadow_blur"] = rng.uniform(0.0, 1.5)
        L["contact_blur"] = 0.0
        L["shadow_opacity"] = rng.uniform(0.25, 0.4)
        L["contact_opacity"] = 0.0
    elif axis == "low_fidelity":
        L["lofi_scale"] = 0.7 - 0.28 * s
        L["lofi_quality"] = int(round(65 - 38 * s))
        L["lofi_nearest"] = rng.random() < 0.4
    elif axis == "film_grain":
        L["grain_sigma"] = 0.025 + 0.06 * s
        L["grain_chroma"] = rng.uniform(0.1, 0.5)
        L["grain_clump"] = rng.random() < 0.5
        L["grain_vignette"] = 0.15 + 0.45 * s
        L["grain_lift"] = rng.uniform(0.0, 0.08) * s
        L["grain_fade"] = rng.uniform(0.0, 0.08) * s
        L["grain_blur"] = rng.uniform(0.0, 1.3) * s
    elif axis == "camera_tilt":
        P = TILT_PAD
        for _ in range(200):
            side = rng.randrange(4)  # which edge is far from the camera
            far = P * (0.45 + 0.55 * s) * rng.uniform(0.85, 1.0)
            near = far * rng.uniform(0.0, 0.25)
            depth = P * rng.uniform(0.2, 0.8) * s
            roll = math.radians(rng.uniform(-20, 20) * s)
            # corners TL, TR, BR, BL in padded canvas, the square is [P, P+SIZE]
            lo, hi = P, P + SIZE
            q = [[lo, lo], [hi, lo], [hi, hi], [lo, hi]]
            spread = [far, far, near, near]  # top edge far by default
            q[0][0] -= spread[0]; q[1][0] += spread[1]
            q[2][0] += spread[2]; q[3][0] -= spread[3]
            q[0][1] -= depth; q[1][1] -= depth
            q[2][1] += depth * 0.2; q[3][1] += depth * 0.2
            c = P + SIZE / 2
            # rotate the whole arrangement by side*90 deg plus the roll
            a = side * math.pi / 2 + roll
            rq = []
            for x, y in q:
                x, y = x - c, y - c
                rq.append((c + x * math.cos(a) - y * math.sin(a), c + x * math.sin(a) + y * math.cos(a)))
            # rotation by side*90 permutes corners; keep output corner order TL,TR,BR,BL
            k = side % 4
            rq = rq[-k:] + rq[:-k] if k else rq
            inner = [(lo + 4, lo + 4), (hi - 4, lo + 4), (hi - 4, hi - 4), (lo + 4, hi - 4)]
            if all(_inside_convex(rq, p) for p in inner) and all(
                    -1 <= x <= 2 * P + SIZE + 1 and -1 <= y <= 2 * P + SIZE + 1 for x, y in rq):
                L["tilt_quad"] = [[float(x), float(y)] for x, y in rq]
                L["tilt_coeffs"] = _perspective_coeffs(rq)
                break
        else:
            q = [(0, 0), (SIZE + 2 * P, 0), (SIZE + 2 * P, SIZE + 2 * P), (0, SIZE + 2 * P)]
            L["tilt_quad"] = [list(map(float, p)) for p in q]
            L["tilt_coeffs"] = _perspective_coeffs(q)
    return L


# ----------------------------------------------------------------------------------------
# layout
# ----------------------------------------------------------------------------------------

EDGE = 14


def _place(rng, size, placed, tries=400):
    """A centre for an object of `size` that keeps clear of `placed` [(x,y,r)]."""
    r = size * 0.45
    lo, hi = size / 2 + EDGE, SIZE - size / 2 - EDGE
    for _ in range(tries):
        x, y = rng.uniform(lo, hi), rng.uniform(lo, hi)
        if all((x - px) ** 2 + (y - py) ** 2 >= (r + pr) ** 2 for px, py, pr in placed):
            return x, y
    return None


def _new_object(rng, name, fname, scale):
    return {"name": name, "file": fname, "size": int(round(scale * rng.uniform(96, 140))),
            "angle": round(rng.uniform(-12, 12), 2)}


def layout_objects(rng, items, scale, avoid):
    """Place items [(name, file)] clear of `avoid` dicts; shrinks if crowded. None if impossible."""
    for attempt in range(30):
        sc = scale * (0.97 ** attempt)
        placed = [(o["x"], o["y"], o["size"] * 0.45) for o in avoid]
        out = []
        ok = True
        for name, fname in items:
            o = _new_object(rng, name, fname, sc)
            p = _place(rng, o["size"], placed)
            if p is None:
                ok = False
                break
            o["x"], o["y"] = round(p[0], 2), round(p[1], 2)
            placed.append((o["x"], o["y"], o["size"] * 0.45))
            out.append(o)
        if ok:
            return out
    return None


# ----------------------------------------------------------------------------------------
# texts
# ----------------------------------------------------------------------------------------

def _a(name):
    return ("an " if name[0].lower() in "aeiou" else "a ") + name


def _join(parts):
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def make_text(rng, adds, removes):
    a = _join([_a(n) for n in adds]) if adds else None
    r = _join(["the " + n for n in removes]) if removes else None
    if a and r:
        t = f"add {a} and remove {r}" if rng.random() < 0.5 else f"remove {r} and add {a}"
    elif a:
        t = f"add {a}"
    else:
        t = f"remove {r}"
    if rng.random() < 0.5:
        t = t[0].upper() + t[1:]
    return t


# ----------------------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------------------

def _quota(rng, total, keys, weights):
    """Exactly-apportioned list of keys (largest remainder), shuffled."""
    raw = [total * w / sum(weights) for w in weights]
    cnt = [int(math.floor(x)) for x in raw]
    order = sorted(range(len(keys)), key=lambda i: (raw[i] - cnt[i], -i), reverse=True)
    for i in order[: total - sum(cnt)]:
        cnt[i] += 1
    out = [k for k, c in zip(keys, cnt) for _ in range(c)]
    rng.shuffle(out)
    return out


def n_range(shape):
    a, r = shape
    return max(MIN_OBJ, r + MIN_OBJ - a, r + 1), min(MAX_OBJ, MAX_OBJ + r - a)


def build_split(seed, n_refs, objects):
    rng = random.Random(seed)
    ks = _quota(rng, n_refs, [2, 3], [1, 1])
    n_q = sum(ks)
    rest = (1 - MAIN_SHAPE_SHARE) / (len(SHAPES) - 1)
    shapes = _quota(rng, n_q, SHAPES, [MAIN_SHAPE_SHARE] + [rest] * (len(SHAPES) - 1))
    looks = _quota(rng, n_refs, ["plain"] + AXES, [1 / 6] + [5 / 6 / len(AXES)] * len(AXES))

    used = set()
    scenes = []   # (key, objects list, look)
    queries = []  # (ref key, target key, adds, removes)
    by_name = dict(objects)
    names = [n for n, _ in objects]
    si = 0
    for ri in range(n_refs):
        my_shapes = shapes[si:si + ks[ri]]
        si += ks[ri]
        lo = max(n_range(s)[0] for s in my_shapes)
        hi = min(n_range(s)[1] for s in my_shapes)
        look = draw_look(rng, looks[ri])
        scale = rng.uniform(0.88, 1.08)
        while True:
            n = rng.randint(lo, hi)
            chosen = rng.sample(names, n)
            if frozenset(chosen) in used:
                continue
            ref_objs = layout_objects(rng, [(c, by_name[c]) for c in chosen], scale, [])
            if ref_objs is not None:
                break
        used.add(frozenset(chosen))
        ref_key = len(scenes)
        scenes.append((ref_key, ref_objs, look))
        for shape in my_shapes:
            na, nr = shape
            for _ in range(1000):
                removes = rng.sample(chosen, nr)
                adds = rng.sample([x for x in names if x not in chosen], na)
                kept = [o for o in ref_objs if o["name"] not in removes]
                tset = frozenset([o["name"] for o in kept] + adds)
                if tset in used:
                    continue
                new = layout_objects(rng, [(a, by_name[a]) for a in adds], scale, ref_objs)
                if new is None:
                    new = layout_objects(rng, [(a, by_name[a]) for a in adds], scale, kept)
                if new is None:
                    continue
                break
            else:
                raise RuntimeError("could not build an edit")
            used.add(tset)
            t_key = len(scenes)
            scenes.append((t_key, kept + new, look))
            queries.append((ref_key, t_key, adds, removes))

    # neutral, shuffled file names
    ids = list(range(len(scenes)))
    rng.shuffle(ids)
    fname = {k: f"{ids[k]:05d}.png" for k in range(len(scenes))}
    texts = [make_text(rng, q[2], q[3]) for q in queries]
    return scenes, queries, texts, fname


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--references", type=int, default=330)
    ap.add_argument("--artwork", default=ART_DIR)
    ap.add_argument("--objects", default=OBJECTS_TSV)
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)

    t0 = time.time()
    objects = load_objects(args.objects, args.artwork)
    scenes, queries, texts, fname = build_split(args.seed, args.references, objects)

    img_dir = os.path.join(args.out, "images")
    os.makedirs(img_dir, exist_ok=True)
    for i, (key, objs, look) in enumerate(scenes):
        render(os.path.join(img_dir, fname[key]), objs, look, args.artwork)
        if (i + 1) % 100 == 0:
            print(f"{i + 1}/{len(scenes)} images, {time.time() - t0:.0f}s", file=sys.stderr)

    with open(os.path.join(args.out, "data.csv"), "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["query_image", "query_text", "target_image"])
        for (r, t, _, _), txt in zip(queries, texts):
            w.writerow([fname[r], txt, fname[t]])
    with open(os.path.join(args.out, "queries.csv"), "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["query_image", "target_image", "add", "remove"])
        for r, t, adds, removes in queries:
            w.writerow([fname[r], fname[t], "|".join(adds), "|".join(removes)])
    with open(os.path.join(args.out, "scenes.csv"), "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "objects", "look"])
        for key, objs, look in sorted(scenes, key=lambda s: fname[s[0]]):
            w.writerow([fname[key], "|".join(sorted(o["name"] for o in objs)), look["axis"]])
    print(f"{len(scenes)} images, {len(queries)} queries, {time.time() - t0:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
