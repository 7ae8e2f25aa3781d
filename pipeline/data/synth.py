"""Builds the synthetic splits in the challenge's format: data.csv + images/, plus scene and query metadata."""
from __future__ import annotations

import math
import os
from functools import cache
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from pipeline.config.data import PhotoVariation, SynthConfig
from pipeline.data.artwork import ArtworkMissingError
from pipeline.data.catalog import CatalogObject, load_catalog, load_web_catalog
from pipeline.data.dataset import CSV_COLUMNS, DISTRACTORS_CSV, SPLITS
from pipeline.data.photo import Photo, draw_photo
from pipeline.data.phrasing import PLAIN_WORDING, SEALED_WORDING, load_wording
from pipeline.data.render import render, sprite
from pipeline.data.scenes import Scene, SceneSampler, held_out_pairs


@cache
def split_objects(objects: str, artist: str) -> tuple[CatalogObject, ...]:
    """What the splits show (`data.objects`): the catalog, or `beyond_catalog`: the stand-in's other web objects
    that `artist` draws, indexed anew, as a team's own objects are: names no split of ours holds."""
    if objects == "catalog":
        return load_catalog()
    known = {o.name for o in load_catalog()}
    sprite(load_catalog()[0].name, artist)  # artwork not unpacked at all stops here, naming the fix
    drawn = []
    for obj in load_web_catalog():
        if obj.name not in known:
            try:
                sprite(obj.name, artist)
            except ArtworkMissingError:
                continue
            drawn.append(CatalogObject(len(drawn), obj.codepoint, obj.name))
    return tuple(drawn)


def split_sampler(split: str, config: SynthConfig, rng: np.random.Generator) -> SceneSampler:
    """Train and val never show a held-out object pair; every test query shows one."""
    catalog = split_objects(config.objects, config.artist)
    held_out = held_out_pairs(len(catalog), config.held_out_pair_fraction, config.seed)
    if split == "test":
        return SceneSampler(catalog, rng, config.scene_config(split), required=held_out)
    return SceneSampler(catalog, rng, config.scene_config(split), forbidden=held_out)


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

    def add_query(ref_name: str, reference: Scene, edit, target_name: str) -> None:
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

    def new_image(role: str, scene: Scene) -> str:
        name = f"{len(images):06d}.jpg"
        images[name] = (role, scene)
        return name

    lo, hi = config.edits_per_reference
    few, many = config.references_per_target
    for _ in range(config.references[split]):
        reference = sampler.reference()
        ref_name = new_image("reference", reference)
        taken: set = set()
        targets = []
        for _ in range(int(rng.integers(lo, hi + 1))):  # one reference, several targets
            made = sampler.edit(reference, taken)
            if made is None:
                break
            edit, target = made
            taken.add(edit)
            targets.append((new_image("target", target), target))
            add_query(ref_name, reference, edit, targets[-1][0])
        for target_name, target in targets:  # one target, several references
            reached_by: set = set()
            for _ in range(int(rng.integers(few, many + 1)) - 1):
                made = sampler.reference_for(target, reached_by)
                if made is None:
                    break
                edit, other = made
                reached_by.add(edit)
                add_query(new_image("reference", other), other, edit, target_name)
    if split != "train":  # drawn last, so they never change a query's scenes
        for _ in range(math.ceil(config.distractors * len({q["target_image"] for q in queries}))):
            new_image("distractor", sampler.reference())
    return images, queries


def scenes_table(images: dict[str, tuple[str, Scene]]) -> pd.DataFrame:
    return pd.DataFrame([
        {"image": name, "role": role, "floor": list(scene.floor), "objects": list(scene.names),
         "x": [o.x for o in scene.objects], "y": [o.y for o in scene.objects],
         "size": [o.size for o in scene.objects], "angle": [o.angle for o in scene.objects],
         "texture": scene.texture, "light_gain": list(scene.light.gain), "light_ramp": scene.light.ramp}
        for name, (role, scene) in images.items()
    ])


_WORKER_FAILURE: Exception | None = None  # what a render worker's set-up raised, re-raised by its first job


def _render_one(job: tuple[Path, Scene, int, str, Photo]) -> None:
    if _WORKER_FAILURE is not None:
        raise _WORKER_FAILURE
    path, scene, size, artist, photo = job
    photo.develop(render(scene, size, artist)).save(path, quality=photo.jpeg_quality)


def warm_sprites(artist: str, objects: str = "catalog") -> None:
    """Loads every split object's sprite in `artist`: missing or unreadable artwork raises here, naming it."""
    for obj in split_objects(objects, artist):
        sprite(obj.name, artist)


def _worker_setup(artist: str, objects: str) -> None:
    # An initializer that raises makes multiprocessing.Pool replace its worker forever (a hang printing the same
    # error); the failure is kept for the first job to raise, so the pool stops once with it.
    global _WORKER_FAILURE
    try:
        warm_sprites(artist, objects)
    except Exception as failure:
        _WORKER_FAILURE = failure


def write_split(out: Path, split: str, config: SynthConfig) -> tuple[dict[str, tuple[str, Scene]], list[dict]]:
    """Renders the split into `out` (data.csv, images/, distractors.csv, queries and scenes as parquet); returns
    what `sample_split` drew."""
    images, queries = sample_split(split, config)
    image_dir = out / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    photo_rng = np.random.default_rng([config.seed, SPLITS.index(split), 3])
    variation = config.photo(split)
    photos = [draw_photo(variation, photo_rng) if variation != PhotoVariation() else Photo() for _ in images]
    jobs = [(image_dir / name, scene, config.image_size, config.artist, photo)
            for (name, (_, scene)), photo in zip(images.items(), photos)]
    workers = config.workers or os.cpu_count() or 1
    warm_sprites(config.artist, config.objects)  # here first: missing artwork stops the stage before any worker starts
    with Pool(workers, initializer=_worker_setup, initargs=(config.artist, config.objects)) as pool:
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
    return images, queries


def write_plain_twin(split_dir: Path, out: Path) -> None:
    """`out/data.csv`: the split's queries with their plain wording, same images (read from `split_dir`)."""
    out.mkdir(parents=True, exist_ok=True)
    table = pd.read_parquet(split_dir / "queries.parquet")
    table = table.assign(query_text=table.plain_text, add_written=table.plain_add_written,
                         remove_written=table.plain_remove_written, family="plain", template="")
    table[CSV_COLUMNS].to_csv(out / "data.csv", index=False)
    table.to_parquet(out / "queries.parquet", index=False)
