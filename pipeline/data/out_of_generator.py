"""The out-of-generator split: scenes laid out by a renderer this repository did not write.

`heldout/out_of_generator/render.py` was written by a helper session that was given only the challenge format
and the artwork (its brief sits beside it) and never saw `pipeline/data/scenes.py` or `pipeline/data/render.py`; both files
are sealed (tests/test_heldout_seal.py). Its split is a check, never training data: the manifest carries it so
that the feature cache holds its images and `evaluate` scores every method on it, while training reads only the
train split. Here it is run, pointed at this checkout's artwork, and its output put in the splits' layout
(data.csv, images/, and the generator's record: queries.parquet and scenes.parquet).
"""
from __future__ import annotations

import importlib.util
import multiprocessing
import os
import shutil
import sys
import tempfile
from pathlib import Path
from unittest import mock

import pandas as pd
from tqdm import tqdm

from pipeline.data.artwork import FIX, PACKAGES, ArtworkMissingError
from pipeline.data.catalog import CATALOG_PATH

RENDERER = Path(__file__).resolve().parents[2] / "heldout" / "out_of_generator" / "render.py"
ARTIST = "fluent3d"


def _renderer():
    artwork = PACKAGES[ARTIST]
    if not artwork.is_fetched():
        raise ArtworkMissingError(f"the artwork {artwork.package}@{artwork.version} is not unpacked: run {FIX}")
    spec = importlib.util.spec_from_file_location("out_of_generator_render", RENDERER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # The writer named the artwork and catalog paths of the machine it ran on; this checkout's are given here.
    module.ART_DIR = str(artwork.pictures)
    module.OBJ_TSV = str(CATALOG_PATH)
    return module


_DEFERRED: list[tuple[tuple, dict]] = []  # the renderer's render calls, inherited by the forked workers
_RENDER = None


def _render_deferred(index: int) -> None:
    args, kwargs = _DEFERRED[index]
    _RENDER(*args, **kwargs)


def _run_in_parallel(renderer, argv: list[str], workers: int) -> None:
    """The renderer's main() with its image writes spread over `workers` processes: main() runs with `render`
    collecting its calls (each image is a pure function of its arguments: scene parameters, objects and a grain
    seed), then the calls run in forked workers, so the files are the ones main() alone would write."""
    global _RENDER
    _DEFERRED.clear()
    _RENDER = renderer.render
    with mock.patch.object(sys, "argv", argv), \
            mock.patch.object(renderer, "render", lambda *args, **kwargs: _DEFERRED.append((args, kwargs))):
        renderer.main()
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for _ in tqdm(pool.imap_unordered(_render_deferred, range(len(_DEFERRED)), chunksize=16),
                      total=len(_DEFERRED), desc="render out_of_generator", unit="img"):
            pass
    _DEFERRED.clear()


def _names(cell: str) -> list[str]:
    return [name for name in cell.split("|") if name]


def _written(names: list[str], role: str) -> list[str]:
    """How the brief's plain wording writes each object: "a"/"an" before an added one, "the" before a removed one."""
    if role == "remove":
        return [f"the {name}" for name in names]
    return [f"{'an' if name[0] in 'aeiou' else 'a'} {name}" for name in names]


def render_split(out: Path, seed: int, references: int) -> None:
    """Runs the outside renderer into a scratch folder, then writes `out` in the splits' layout."""
    renderer = _renderer()
    with tempfile.TemporaryDirectory() as scratch:
        argv = ["render.py", "--out", scratch, "--seed", str(seed), "--references", str(references)]
        _run_in_parallel(renderer, argv, os.cpu_count() or 1)
        scratch = Path(scratch)
        data = pd.read_csv(scratch / "data.csv", dtype=str, keep_default_na=False)
        edits = pd.read_csv(scratch / "queries.csv", dtype=str, keep_default_na=False)
        scenes = pd.read_csv(scratch / "scenes.csv", dtype=str, keep_default_na=False)
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        shutil.move(scratch / "images", out / "images")
    data.to_csv(out / "data.csv", index=False)
    queries = data.merge(edits, on=["query_image", "target_image"], how="left", validate="one_to_one")
    queries = queries.assign(add=queries["add"].map(_names), remove=queries["remove"].map(_names), family="plain")
    queries.assign(add_written=queries["add"].map(lambda names: _written(names, "add")),
                   remove_written=queries["remove"].map(lambda names: _written(names, "remove"))
                   ).to_parquet(out / "queries.parquet", index=False)
    scenes.assign(objects=scenes.objects.map(_names)).to_parquet(out / "scenes.parquet", index=False)
