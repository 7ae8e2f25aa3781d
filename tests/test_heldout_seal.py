"""Sealed held-out material, written by helper sessions that saw none of what it measures: the held-out wording
(neither the tagger nor the training wording; only the test split and its evaluation read it) and the
out-of-generator renderer (only the challenge format and the artwork). Nothing may tune on either, so their bytes
are pinned here, and only scoring code may name the out-of-generator split."""
import hashlib
import re
from pathlib import Path

import pandas as pd
import pytest

from pipeline.data.catalog import load_catalog
from pipeline.data.outside_splits import RENDERERS, render_split
from pipeline.data.phrasing import SEALED_WORDING, Wording
from pipeline.measurement.seal import SEALED_NAMES, emoji_names, name_list

SEALED_SHA256 = "6d1c7ecc53a213f494c03f50e9d3aba5ccbb6dfdb594b1b1078b968e2a1782c8"


SEALED_BRIEF_SHA256 = "cc465de4ba852b43888824bb2e9797a207931487146eaa9f218d3ff3ee8f6a7b"


def test_sealed_wording_and_its_brief_are_unchanged():
    assert hashlib.sha256(SEALED_WORDING.read_bytes()).hexdigest() == SEALED_SHA256, (
        f"{SEALED_WORDING} changed: held-out wording is never edited; write a new sealed file instead")
    brief = SEALED_WORDING.parent / "wording_brief.md"
    assert hashlib.sha256(brief.read_bytes()).hexdigest() == SEALED_BRIEF_SHA256, f"{brief} is kept as it was given"


def test_sealed_wording_is_large_and_has_every_edit_shape():
    wording = Wording.load(SEALED_WORDING)
    edits = [(group, t) for _, group, t in wording.templates() if group != "none"]
    assert len(edits) >= 300 and len(wording.families) >= 12
    assert {group for group, _ in edits} == {"add", "remove", "both"}


SEALED_NAMES_SHA256 = {"names.txt": "e86072d73cb7f7e86b267580958115fda05e782aa19096cf30bb6a63963b23f0",
                       "names_brief.md": "06045900af8d014c847b0d756f7b630fbf13c177bc5beb5e06561ec6abf08c59"}


def test_sealed_names_are_unchanged_many_and_outside_the_catalog_and_emoji():
    for name, digest in SEALED_NAMES_SHA256.items():
        path = SEALED_NAMES.parent / name
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, f"{path} is sealed: never edited"
    names = name_list(SEALED_NAMES)
    assert len(names) == len(set(names)) >= 200 and sum(" " in n for n in names) >= len(names) / 2
    assert not set(names) & ({o.name.lower() for o in load_catalog()} | emoji_names())


OUTSIDE_RENDERERS_SHA256 = {
    "out_of_generator": {"brief.md": "c268e04a031e8786515e9d2948c1f9204cf92c5458afe6c3fee4ea5de86cf329",
                         "render.py": "440c94c930e14d2d003f5d54b2c2c908842823392ca9ba18df61ad5781644295"},
    "look_shift": {"brief.md": "ded90586391e893a39b8b420f7fd1e2a4a6ca6ac0e31f6d580f0f4361b2d286e",
                   "render.py": "08ed253651e9950f4bd7f87f7ef40fd96eb38b4effb7e94a9b8346e3870ee9f2"},
}
# The only project files that may name an outside split: where it is made, listed, scored and reported; the
# out-of-generator split also chooses (the sweep's rule), the look-shift split nothing.
MAY_NAME = {
    "out_of_generator": {"pipeline/data/dataset.py", "pipeline/data/outside_splits.py", "pipeline/paths.py",
                         "pipeline/measurement/evaluation.py", "pipeline/measurement/headline.py",
                         "pipeline/measurement/sweep.py", "pipeline/measurement/report.py",
                         "pipeline/measurement/splits.py"},
    "look_shift": {"pipeline/data/dataset.py", "pipeline/data/outside_splits.py", "pipeline/paths.py",
                   "pipeline/measurement/evaluation.py", "pipeline/measurement/headline.py",
                   "pipeline/measurement/report.py", "pipeline/measurement/splits.py"},
}


@pytest.mark.parametrize("split", sorted(RENDERERS))
def test_outside_renderers_and_their_briefs_are_unchanged(split):
    assert set(OUTSIDE_RENDERERS_SHA256) == set(RENDERERS)
    for name, digest in OUTSIDE_RENDERERS_SHA256[split].items():
        path = RENDERERS[split].script.parent / name
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, (
            f"{path} changed: an outside renderer is never edited (point it elsewhere from "
            f"pipeline/data/outside_splits.py, or have a new one written)")


@pytest.mark.parametrize("split", sorted(MAY_NAME))
def test_no_training_code_names_an_outside_split(split):
    root = Path(__file__).resolve().parents[1]
    naming = {str(path.relative_to(root)) for folder in ("pipeline", "stages", "submission_src")
              for path in (root / folder).rglob("*.py")
              if re.search(f"{split.upper()}|{split}", path.read_text(encoding="utf-8"))}
    assert naming <= MAY_NAME[split], f"only scoring may read the {split} split: {sorted(naming - MAY_NAME[split])}"


@pytest.mark.parametrize("split", sorted(RENDERERS))
def test_an_outside_renderer_writes_a_split_in_our_layout(tmp_path, split):
    render_split(split, tmp_path / split, seed=3, references=6)
    data = pd.read_csv(tmp_path / split / "data.csv")
    queries = pd.read_parquet(tmp_path / split / "queries.parquet")
    scenes = pd.read_parquet(tmp_path / split / "scenes.parquet").set_index("image")
    objects = scenes.objects.map(set)
    assert len(data) >= 12 and list(queries.query_text) == list(data.query_text)
    for row in queries.itertuples():
        assert objects[row.target_image] == (objects[row.query_image] - set(row.remove)) | set(row.add)
        assert all(written.lower() in row.query_text.lower() for written in [*row.add_written, *row.remove_written])
        if "look" in scenes:  # a look-shift split: an edit changes objects, never the look
            assert scenes.look[row.target_image] == scenes.look[row.query_image]
    assert all((tmp_path / split / "images" / name).is_file() for name in objects.index)
