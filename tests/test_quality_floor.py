"""A quality floor: the shipped recipe must still learn, and the shipped tagger must still parse, on material large
enough to measure. A change that halves what training buys, or breaks the tagger, fails here even when every loss
still falls.

Retrieval: the shipped stand-in backbone and tagger, 80 training reference scenes (about 300 triplets) and 45
held-out ones (about 150 queries, the challenge's plain wording, with distractors), drawn small (128 px: the
stand-in reads 96). adapter_tail is trained with the params' `tail` schedule on the training triplets alone (no
edit algebra) and scored against zero-shot arithmetic under the judge's protocol.

Wording: the shipped tagger on `tests/assets/floor_wording.yaml`, written for this test by a helper session
briefed only with the task and the format; no training or development template is within one word of it, and
nothing trains on it or chooses by it.
"""
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.config.data import SynthConfig
from pipeline.config.features import FeatureSpec
from pipeline.config.section import load_section
from pipeline.config.settings import Settings
from pipeline.config.training import TailConfig
from pipeline.data.dataset import SplitSource
from pipeline.data.phrasing import Wording
from pipeline.data.synth import write_split
from pipeline.measurement.evaluation import split_top1
from pipeline.pretrained import TAGGER, load_checkpoint
from pipeline.training.experiment import Experiment
from pipeline.training.feature_store import FeatureCache
from pipeline.training.features import extract, image_table, text_table
from pipeline.training.retriever import Retriever, build_query_set
from pipeline.training.tagging import ObjectNames, scored_phrases, template_phrases
from submission_src.fusion import FusionAdapter
from submission_src.tagger import QueryTagger

# adapter_tail over arithmetic on this test's split, measured on 2026-12-07 (2-core AVX2 CPU, commit 8bf282e):
# 0.936 against 0.833. The floor is half that margin.
MARGIN_TODAY = 0.103
MARGIN_FLOOR = MARGIN_TODAY / 2
FLOOR_WORDING = Path(__file__).parent / "assets" / "floor_wording.yaml"
# The shipped tagger's exact parse (the name alone) there on 2026-12-07: 0.823 (576 texts; 95 % interval by
# template 0.781-0.863). The floor sits under that interval.
TAGGER_FLOOR = 0.75


@pytest.fixture(scope="module")
def floor(tmp_path_factory):
    """The floor's experiment: the shipped stand-in and tagger over a cache of the floor's two splits."""
    root = tmp_path_factory.mktemp("floor")
    config = replace(load_section(SynthConfig), image_size=128, workers=2,
                     references={"train": 80, "val": 45, "test": 0})
    splits = {}
    for split in ("train", "val"):  # val: the plain wording, distractors in its database
        write_split(root / split, split, config)
        splits[split] = SplitSource(str(root / split / "data.csv"), str(root / split / "images"))
    spec = FeatureSpec.from_params()
    backbone = spec.load_backbone().eval()
    extract(backbone, spec, image_table(splits), text_table(splits), root / "cache", chunk=64, workers=0)
    cache = FeatureCache.open(root / "cache")
    tagger = QueryTagger.from_saved(load_checkpoint(TAGGER))
    experiment = Experiment(Settings.load(), spec, backbone, cache, tagger)
    queries = {split: build_query_set(cache, source, tagger, backbone) for split, source in splits.items()}
    return experiment, queries


def margin_over_arithmetic(experiment: Experiment, queries: dict, tail: TailConfig) -> float:
    trained, _ = experiment.train_adapter_tail(queries["train"], tail=tail)
    arithmetic = Retriever(FusionAdapter(experiment.dim, experiment.settings.adapter.hidden))
    return (split_top1(trained.eval(), experiment.cache, queries["val"])
            - split_top1(arithmetic, experiment.cache, queries["val"]))


def test_adapter_tail_beats_arithmetic_by_half_todays_margin(floor):
    experiment, queries = floor
    assert len(queries["val"].frame) >= 100 and len(queries["train"].frame) >= 250
    margin = margin_over_arithmetic(experiment, queries, experiment.settings.tail)
    assert margin >= MARGIN_FLOOR, f"adapter_tail beats arithmetic by {margin:.3f}, under the floor {MARGIN_FLOOR:.3f}"


def test_the_floor_fails_a_model_that_learns_nothing(floor):
    experiment, queries = floor
    frozen = replace(experiment.settings.tail, lr=0.0, epochs=1)  # the tail's learning rate set to zero
    assert margin_over_arithmetic(experiment, queries, frozen) < MARGIN_FLOOR


def floor_exact(tagger: QueryTagger) -> float:
    phrases = template_phrases(Wording.load(FLOOR_WORDING), ObjectNames(), fills=8, seed=0)
    return scored_phrases(tagger, phrases)[0]["exact_strict"]


def test_the_shipped_tagger_parses_outside_wording_above_the_floor():
    exact = floor_exact(QueryTagger.from_saved(load_checkpoint(TAGGER)))
    assert exact >= TAGGER_FLOOR, f"exact parse {exact:.3f} on the floor's wording, under {TAGGER_FLOOR}"


def test_the_tagger_floor_fails_a_broken_tagger():
    saved = load_checkpoint(TAGGER)
    broken = QueryTagger.from_saved(saved)
    for name, param in broken.named_parameters():
        if name.startswith("encoder."):  # the context it tags from, gone
            param.data.zero_()
    assert floor_exact(broken) < TAGGER_FLOOR
