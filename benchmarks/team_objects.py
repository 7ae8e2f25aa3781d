"""A team's own objects: the pipeline up to `evaluate` in a fresh copy of this repository whose splits show none of
our catalog's objects (`data.objects: beyond_catalog`, the stand-in web's ~500 others, drawn by the same artist),
beside this workspace's figures on the catalog. What the tagger learns of the team's names comes from its training
split only (harvested by the `dataset` stage, learnt by `adapt_tagger`); the stand-in and the shipped tagger are
this workspace's, not retrained. The figures go to metrics/team_objects.json.

Usage: python -m benchmarks.team_objects [--scratch /tmp/team_objects]
"""
import argparse
import json
import tempfile
import time
from pathlib import Path

from pipeline.measurement.benchmark_outputs import TEAM_OBJECTS_METRICS
from pipeline.measurement.project_copy import reproduced_copy
from pipeline.paths import EVAL_METRICS

METHODS = ("arithmetic", "adapter", "adapter_tail")
SPLITS = ("test", "test_plain")  # the sealed wording, and the challenge's rigid wording on the same queries


def figures(metrics: dict) -> dict:
    scored = {split: {"top1": {m: metrics[split][m]["top1"] for m in METHODS},
                      "tagger_exact": metrics[split]["tagger_exact"]["exact"]} for split in SPLITS}
    return {**scored, "zero_shot_object_recall": metrics["test"]["zero_shot_object_recall"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scratch", type=Path, default=None, help="where the copy goes (default: a temp dir)")
    args = parser.parse_args()
    started = time.time()
    with tempfile.TemporaryDirectory() as scratch:
        project = reproduced_copy((args.scratch or Path(scratch)) / "beyond_catalog", {"objects": "beyond_catalog"})
        beyond = figures(json.loads((project / EVAL_METRICS).read_text()))
    results = {"catalog": figures(json.loads(EVAL_METRICS.read_text())), "beyond_catalog": beyond,
               "seconds": round(time.time() - started)}
    TEAM_OBJECTS_METRICS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
