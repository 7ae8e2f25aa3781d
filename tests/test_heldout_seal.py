"""Sealed held-out material, written by helper sessions that saw none of what it measures: the held-out wording
(neither the tagger nor the training wording; only the test split and its evaluation read it) and the
out-of-generator renderer (only the challenge format and the artwork). Nothing may tune on either, so their bytes
are pinned here, and only scoring code may name the out-of-generator split."""
import hashlib
import re
import unicodedata
from pathlib import Path

import pandas as pd

from pipeline.data.catalog import load_catalog
from pipeline.data.out_of_generator import RENDERER, render_split
from pipeline.data.phrasing import SEALED_WORDING, Wording

EMOJI_BLOCKS = ((0x2300, 0x23FF), (0x2600, 0x27BF), (0x2B00, 0x2BFF), (0x1F000, 0x1FAFF))  # the stand-in's names
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


SEALED_NAMES = SEALED_WORDING.parent / "names.txt"
SEALED_NAMES_SHA256 = {"names.txt": "e86072d73cb7f7e86b267580958115fda05e782aa19096cf30bb6a63963b23f0",
                       "names_brief.md": "06045900af8d014c847b0d756f7b630fbf13c177bc5beb5e06561ec6abf08c59"}


def test_sealed_names_are_unchanged_many_and_outside_the_catalog_and_emoji():
    for name, digest in SEALED_NAMES_SHA256.items():
        path = SEALED_NAMES.parent / name
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, f"{path} is sealed: never edited"
    names = [line for line in SEALED_NAMES.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    assert len(names) == len(set(names)) >= 200 and sum(" " in n for n in names) >= len(names) / 2
    emoji = {unicodedata.name(chr(c), "").lower() for lo, hi in EMOJI_BLOCKS for c in range(lo, hi + 1)}
    assert not set(names) & ({o.name.lower() for o in load_catalog()} | emoji)


OUT_OF_GENERATOR_SHA256 = {
    "brief.md": "c268e04a031e8786515e9d2948c1f9204cf92c5458afe6c3fee4ea5de86cf329",
    "render.py": "440c94c930e14d2d003f5d54b2c2c908842823392ca9ba18df61ad5781644295",
}
# The only project files that may name the out-of-generator split: where it is made, listed, scored and reported.
MAY_NAME_IT = {"pipeline/data/dataset.py", "pipeline/data/out_of_generator.py", "pipeline/paths.py",
               "pipeline/measurement/evaluation.py", "stages/out_of_generator.py", "pipeline/measurement/headline.py",
               "pipeline/measurement/sweep.py", "pipeline/measurement/report.py", "pipeline/measurement/splits.py"}


def test_out_of_generator_renderer_and_its_brief_are_unchanged():
    for name, digest in OUT_OF_GENERATOR_SHA256.items():
        path = RENDERER.parent / name
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, (
            f"{path} changed: the outside renderer is never edited (point it elsewhere from "
            f"pipeline/data/out_of_generator.py, or have a new one written)")


def test_no_training_code_names_the_out_of_generator_split():
    root = Path(__file__).resolve().parents[1]
    naming = {str(path.relative_to(root)) for folder in ("pipeline", "stages", "submission_src")
              for path in (root / folder).rglob("*.py")
              if re.search(r"OUT_OF_GENERATOR|out_of_generator", path.read_text(encoding="utf-8"))}
    assert naming <= MAY_NAME_IT, f"only scoring may read the out-of-generator split: {sorted(naming - MAY_NAME_IT)}"


def test_the_outside_renderer_writes_a_split_in_our_layout(tmp_path):
    render_split(tmp_path / "oog", seed=3, references=6)
    data = pd.read_csv(tmp_path / "oog" / "data.csv")
    queries = pd.read_parquet(tmp_path / "oog" / "queries.parquet")
    objects = pd.read_parquet(tmp_path / "oog" / "scenes.parquet").set_index("image").objects.map(set)
    assert len(data) >= 12 and list(queries.query_text) == list(data.query_text)
    for row in queries.itertuples():
        assert objects[row.target_image] == (objects[row.query_image] - set(row.remove)) | set(row.add)
        assert all(written.lower() in row.query_text.lower() for written in [*row.add_written, *row.remove_written])
    assert all((tmp_path / "oog" / "images" / name).is_file() for name in objects.index)
