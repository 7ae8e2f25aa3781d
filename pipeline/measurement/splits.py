"""Every split the project scores or learns from, who drew it, and what it is used for. A figure is only worth what
its split was kept from: a split that chooses anything (a method, a recipe, a writer) gives selection figures; a
held-out split is read by its evaluation alone.

The wording files take their use from params.yaml (`tagger.corpus` trains, `tagger_development` chooses), so a file
added there joins its row; a scene split the evaluation scores must have a row here (tests/test_report.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.config.tagger import TaggerConfig, TaggerDevelopment
from pipeline.data.phrasing import PLAIN_WORDING, SEALED_WORDING

TRAINING, CHOOSING, HELD_OUT = "training", "choosing", "held-out"
FLOOR_WORDING = "tests/assets/floor_wording.yaml"


@dataclass(frozen=True)
class Split:
    name: str
    drawn_by: str
    used_for: str  # TRAINING, CHOOSING or HELD_OUT
    read_by: str  # what reads it, and for what


SCENE_SPLITS = (
    Split("train", "`data` (pipeline/data/synth.py), the challenge's plain wording; the look of `data.looks.train`",
          TRAINING,
          "train_fusion, train_tail (with the edit algebra and varied wording)"),
    Split("val", "`data`, plain wording; no held-out object pair; varied looks (`data.looks.val`: half on coloured "
          "floors, textures, casts, scales, blur, JPEG)", CHOOSING,
          "`package.method: auto` ships the best method on it; `make sweep` chooses the recipe on it"),
    Split("test", "`data`: every query shows a held-out object pair; the sealed wording; the challenge's grey look",
          HELD_OUT,
          "`evaluate` and `verify` only"),
    Split("test_plain", "`data`: test's scenes and edits in the plain wording", HELD_OUT,
          "`evaluate` only (the paraphrase gap)"),
    Split("out_of_generator", "heldout/out_of_generator/render.py, written outside this repository (sealed)",
          CHOOSING, "`make sweep`'s rule reads it beside val: scored, never trained on, but it chooses the recipe"),
    Split("look_shift", "heldout/look_shift/render.py, written outside this repository in looks its writer chose "
          "(sealed)", HELD_OUT, "`evaluate` only: every method, overall and per look"),
    Split("the stand-in's web", "pipeline/training/bootstrap.py: 2D artists' scenes, never a split's", TRAINING,
          "`bootstrap` (the shipped stand-in backbone)"),
    Split("the floor's scenes", "tests/test_quality_floor.py, by `data`'s generator at 128 px", HELD_OUT,
          "`make test`'s quality floor only"),
)


def wording_splits(tagger: TaggerConfig, development: TaggerDevelopment) -> list[Split]:
    """The wording files by use, their use read from the tagger's params."""
    listed = lambda paths: ", ".join(f"`{Path(p).stem}`" for p in paths)  # noqa: E731
    return [Split(f"training wording: {listed(tagger.corpus)}", "the writers of their briefs (docs/wording.md)",
                  TRAINING, "`train_tagger`; the varied wording of train_tail"),
            Split(f"development wording: {listed(development.wordings)}",
                  "the writers of their briefs (docs/wording.md)", CHOOSING,
                  "`evaluate_tagger`'s development figures: the tagger's recipe and writers are chosen on them"),
            Split(f"`{PLAIN_WORDING.name}`", "the challenge's training format", TRAINING,
                  "train and val texts, test_plain"),
            Split(f"`sealed/{SEALED_WORDING.name}`", "two helper sessions briefed only with the task and the format "
                  "(2026-12-07), near-copies dropped before sealing", HELD_OUT,
                  "the test split's texts and `evaluate_tagger`'s one exact figure"),
            Split(f"`{FLOOR_WORDING}`", "a helper session briefed only with the task and the format", HELD_OUT,
                  "`make test`'s quality floor only"),
            Split(f"`{Path(development.names).name}`", "a helper session given the sealed names' brief; names the "
                  "sealed list, the catalog, the emoji or the open vocabulary hold dropped", CHOOSING,
                  "`evaluate_tagger`'s development name figures: the tagger's recipe is chosen on them"),
            Split("`sealed/names.txt`", "a helper session briefed only with everyday things on a table (sealed)",
                  HELD_OUT, "`evaluate_tagger`'s name figures, one exact figure per wording and kind")]


def use_of(split: str) -> str | None:
    """What a scene split is used for, by its name."""
    return next((s.used_for for s in SCENE_SPLITS if s.name == split), None)
