"""The headline: the one DVC metrics file, a dozen numbers taken from the stages' detailed JSONs."""
import json
from pathlib import Path

import yaml

from pipeline.measurement.headline import MAX_NUMBERS, SHAPES, headline
from pipeline.paths import (
    DIAGNOSIS_METRICS,
    EVAL_METRICS,
    HEADLINE_METRICS,
    PACKAGE_METRICS,
    SUBMISSION_METRICS,
    TAGGER_METRICS,
)

ROOT = Path(__file__).resolve().parents[1]


def test_headline_holds_the_shipped_methods_figures_from_the_run():
    evaluation, diagnosis, package, tagger, submission = (
        json.loads((ROOT / path).read_text())
        for path in (EVAL_METRICS, DIAGNOSIS_METRICS, PACKAGE_METRICS, TAGGER_METRICS, SUBMISSION_METRICS))
    numbers = headline(evaluation, diagnosis, package, tagger, submission)
    method = package["method"]
    for split, shape in SHAPES.items():
        assert numbers[f"top1_{split}_{shape}"] == diagnosis[split][method]["by_shape"][shape]["top1"]
    assert len(numbers) <= MAX_NUMBERS and all(not isinstance(v, (dict, list)) for v in numbers.values())
    assert numbers["method"] == method
    assert numbers["top1_test"] == evaluation["test"][method]["top1"]
    assert numbers["top1_val"] == evaluation["val"][method]["top1"]
    for split in ("out_of_generator", "look_shift"):  # the outside renderers' splits, where the run scored them
        assert numbers.get(f"top1_{split}") == evaluation.get(split, {}).get(method, {}).get("top1")
    assert numbers["paraphrase_gap"] == evaluation["paraphrase_gap"][method]
    assert numbers["verify_min_cosine"] == submission["min_cosine"] and numbers["judge_top1"] == submission["top1"]
    assert numbers["verify_min_cosine_vs_evaluate"] == submission["min_cosine_vs_evaluate"]
    assert numbers["tagger_heldout_exact"] == tagger["heldout"]["exact"]
    assert numbers["package_mb"] == round(submission["size_bytes"] / 1e6, 1)
    assert numbers["judge_process_seconds"] == round(submission["process_seconds"], 1)  # the judge's whole clock
    assert numbers["judge_measured_on"].startswith(f"Python {submission['python']}, {submission['device']}")


def test_dvc_declares_the_headline_as_its_only_metrics():
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    declared = [next(iter(entry)) if isinstance(entry, dict) else entry
                for stage in dvc["stages"].values() for entry in stage.get("metrics", [])]
    assert declared == [str(HEADLINE_METRICS)] and "metrics" not in dvc
    outs = {next(iter(entry)) if isinstance(entry, dict) else entry
            for stage in dvc["stages"].values() for entry in stage.get("outs", [])}
    assert {str(p) for p in (EVAL_METRICS, PACKAGE_METRICS, TAGGER_METRICS, SUBMISSION_METRICS)} <= outs
