"""Builds the synthetic splits in the challenge's format: data.csv + images/, plus scene and query metadata."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from pipeline.catalog import load_catalog
from pipeline.dataset import CSV_COLUMNS, DISTRACTORS_CSV, SPLITS
from pipeline.phrasing import PLAIN_WORDING, SEALED_WORDING, load_wording
from pipeline.render import render, sprite
from pipeline.scenes import Scene, SceneConfig, SceneSampler, held_out_pairs


@dataclass(frozen=True)
class SynthConfig:
    seed: int
    image_size: int
    references: dict[str, int]
    edits_per_reference: tuple[int, int]
    held_out_pair_fraction: float
    style: str  # the artist the splits are drawn by: see pipeline/render.py
    scene: SceneConfig = SceneConfig()  # how many objects, how large, how they overlap, floors, lighting
    distractors: float = 0.0  # val/test database: this many distractor scenes per target, besides the targets
    workers: int = 0

    @classmethod
    def from_params(cls, p: dict) -> "SynthConfig":
        return cls(seed=int(p["seed"]), image_size=int(p["image_size"]), references=dict(p["references"]),
                   edits_per_reference=tuple(p["edits_per_reference"]),
                   held_out_pair_fraction=float(p["held_out_pair_fraction"]), style=p["style"],
                   scene=SceneConfig.from_params(p["scene"]), distractors=float(p["distractors"]),
                   workers=int(p.get("workers", 0)))


def split_sampler(split: str, config: SynthConfig, rng: np.random.Generator) -> SceneSampler:
    """Train and val never show a held-out object pair; every test query shows one."""
    catalog = load_catalog()
    held_out = held_out_pairs(len(catalog), config.held_out_pair_fraction, config.seed)
    if split == "test":
        return SceneSampler(catalog, rng, config.scene, required=held_out)
    return SceneSampler(catalog, rng, config.scene, forbidden=held_out)


def sample_split(split: str, config: SynthConfig) -> tuple[dict[str, tuple[str, Scene]], list[dict]]:
    """Every image of the split (name -> role, scene) and its queries, deterministic for the seed.

    Train and val are worded as the challenge's training data; test in the sealed held-out wording, with each
    query's plain wording beside it (`plain_text`). Texts draw from their own random streams, so a change of
    wording never changes a scene.
    """
    index = SPLITS.index(split)
    rng = np.random.default_rng([config.seed, index])
    text_rng, plain_rng = np.random.default_rng([config.seed, index, 1]), np.random.default_rng([config.seed, index, 2])
    sampler = split_sampler(split, config, rng)
    plain = load_wording(PLAIN_WORDING)
    wording = load_wording(SEALED_WORDING) if split == "test" else plain
    images: dict[str, tuple[str, Scene]] = {}
    queries: list[dict] = []
    lo, hi = config.edits_per_reference
    for _ in range(config.references[split]):
        reference = sampler.reference()
        ref_name = f"{len(images):06d}.jpg"
        images[ref_name] = ("reference", reference)
        taken: set = set()
        for _ in range(int(rng.integers(lo, hi + 1))):
            made = sampler.edit(reference, taken)
            if made is None:
                break
            edit, target = made
            taken.add(edit)
            target_name = f"{len(images):06d}.jpg"
            images[target_name] = ("target", target)
            kept = [name for name in reference.names if name not in edit.remove]
            keep = kept[text_rng.integers(len(kept))] if kept else None
            phrase = wording.sample(edit.add, edit.remove, text_rng, keep=keep)
            plain_phrase = plain.sample(edit.add, edit.remove, plain_rng)
            queries.append({"query_image": ref_name, "query_text": phrase.text, "target_image": target_name,
                            "add": list(edit.add), "remove": list(edit.remove), "keep": keep,
                            "add_written": phrase.objects("add", with_determiner=True),
                            "remove_written": phrase.objects("remove", with_determiner=True),
                            "family": phrase.family, "template": phrase.template,
                            "plain_text": plain_phrase.text,
                            "plain_add_written": plain_phrase.objects("add", with_determiner=True),
                            "plain_remove_written": plain_phrase.objects("remove", with_determiner=True)})
    if split != "train":  # drawn last, so they never change a query's scenes
        for _ in range(math.ceil(config.distractors * len(queries))):
            images[f"{len(images):06d}.jpg"] = ("distractor", sampler.reference())
    return images, queries


def scenes_table(images: dict[str, tuple[str, Scene]]) -> pd.DataFrame:
    return pd.DataFrame([
        {"image": name, "role": role, "floor": list(scene.floor), "objects": list(scene.names),
         "x": [o.x for o in scene.objects], "y": [o.y for o in scene.objects],
         "size": [o.size for o in scene.objects], "angle": [o.angle for o in scene.objects],
         "texture": scene.texture, "light_gain": list(scene.light.gain), "light_ramp": scene.light.ramp}
        for name, (role, scene) in images.items()
    ])


def _render_one(job: tuple[Path, Scene, int, str]) -> None:
    path, scene, size, style = job
    render(scene, size, style).save(path, quality=92)


def _warm_sprites(style: str) -> None:
    for obj in load_catalog():
        sprite(obj.name, style)


def write_split(out: Path, split: str, config: SynthConfig) -> None:
    images, queries = sample_split(split, config)
    image_dir = out / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(image_dir / name, scene, config.image_size, config.style) for name, (_, scene) in images.items()]
    workers = config.workers or os.cpu_count() or 1
    with Pool(workers, initializer=_warm_sprites, initargs=(config.style,)) as pool:
        for _ in tqdm(pool.imap_unordered(_render_one, jobs, chunksize=32), total=len(jobs),
                      desc=f"render {split}", unit="img"):
            pass
    table = pd.DataFrame(queries)
    table[CSV_COLUMNS].to_csv(out / "data.csv", index=False)
    distractors = [name for name, (role, _) in images.items() if role == "distractor"]
    if distractors:
        pd.DataFrame({"image": distractors}).to_csv(out / DISTRACTORS_CSV, index=False)
    table.to_parquet(out / "queries.parquet", index=False)
    scenes_table(images).to_parquet(out / "scenes.parquet", index=False)


def write_plain_twin(split_dir: Path, out: Path) -> None:
    """`out/data.csv`: the split's queries with their plain wording, same images (read from `split_dir`)."""
    out.mkdir(parents=True, exist_ok=True)
    table = pd.read_parquet(split_dir / "queries.parquet")
    table = table.assign(query_text=table.plain_text, add_written=table.plain_add_written,
                         remove_written=table.plain_remove_written, family="plain", template="")
    table[CSV_COLUMNS].to_csv(out / "data.csv", index=False)
    table.to_parquet(out / "queries.parquet", index=False)
