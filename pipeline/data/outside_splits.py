"""Held-out splits drawn by renderers this repository did not write, each by a helper session given only the
challenge format and the artwork (its brief sits beside it), that never saw `pipeline/data/scenes.py` or
`pipeline/data/render.py`; renderers and briefs are sealed (tests/test_heldout_seal.py):

- `out_of_generator` (`heldout/out_of_generator/`): scenes laid out by another generator, on grey floors;
- `look_shift` (`heldout/look_shift/`): scenes drawn in looks its writer chose (floors, casts, light and more),
  one look per reference scene and its targets, recorded per image (`scenes.parquet`'s `look`).

Such a split is a check, never training data and never a choice: the manifest carries it so that the feature cache
holds its images and `evaluate` scores every method on it, while training reads only the train split and no
sweep reads it. Here a renderer is run, pointed at this checkout's artwork, and its output put in the splits'
layout (data.csv, images/, and the generator's record: queries.parquet and scenes.parquet).
"""
from __future__ import annotations

import importlib.util
import multiprocessing
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pandas as pd
from tqdm import tqdm

from pipeline.data.artwork import FIX, PACKAGES, ArtworkMissingError
from pipeline.data.catalog import CATALOG_PATH

HELDOUT = Path(__file__).resolve().parents[2] / "heldout"
ARTIST = "fluent3d"


@dataclass(frozen=True)
class OutsideRenderer:
    """A sealed renderer, and how this checkout's artwork and catalog paths reach it (its writer named the paths
    of the machine it ran on): as module attributes it reads, or as its command-line options."""
    script: Path
    path_attributes: tuple[str, str] | None = None  # (artwork, catalog) module attributes
    path_options: tuple[str, str] | None = None  # (artwork, catalog) options

    def load(self):
        artwork = PACKAGES[ARTIST]
        if not artwork.is_fetched():
            raise ArtworkMissingError(f"the artwork {artwork.package}@{artwork.version} is not unpacked: run {FIX}")
        spec = importlib.util.spec_from_file_location(f"{self.script.parent.name}_render", self.script)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if self.path_attributes:
            for attribute, value in zip(self.path_attributes, (artwork.pictures, CATALOG_PATH)):
                setattr(module, attribute, str(value))
        return module

    def arguments(self) -> list[str]:
        if not self.path_options:
            return []
        return [item for option, value in zip(self.path_options, (PACKAGES[ARTIST].pictures, CATALOG_PATH))
                for item in (option, str(value))]


RENDERERS = {
    "out_of_generator": OutsideRenderer(HELDOUT / "out_of_generator" / "render.py", path_attributes=("ART_DIR", "OBJ_TSV")),
    "look_shift": OutsideRenderer(HELDOUT / "look_shift" / "render.py", path_options=("--artwork", "--objects")),
}


_DEFERRED: list[tuple[tuple, dict]] = []  # the renderer's render calls, inherited by the forked workers
_RENDER = None


def _render_deferred(index: int) -> None:
    args, kwargs = _DEFERRED[index]
    _RENDER(*args, **kwargs)


def _run_in_parallel(renderer, argv: list[str], workers: int, name: str) -> None:
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
                      total=len(_DEFERRED), desc=f"render {name}", unit="img"):
            pass
    _DEFERRED.clear()


def _names(cell: str) -> list[str]:
    return [name for name in cell.split("|") if name]


def _written(names: list[str], role: str) -> list[str]:
    """How the brief's plain wording writes each object: "a"/"an" before an added one, "the" before a removed one."""
    if role == "remove":
        return [f"the {name}" for name in names]
    return [f"{'an' if name[0] in 'aeiou' else 'a'} {name}" for name in names]


def render_split(name: str, out: Path, seed: int, references: int) -> None:
    """Runs the outside renderer of split `name` into a scratch folder, then writes `out` in the splits' layout."""
    renderer = RENDERERS[name]
    with tempfile.TemporaryDirectory() as scratch:
        argv = ["render.py", "--out", scratch, "--seed", str(seed), "--references", str(references),
                *renderer.arguments()]
        _run_in_parallel(renderer.load(), argv, os.cpu_count() or 1, name)
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
