"""The benchmark's artists side by side: for each `data.artist`, the pipeline up to `evaluate` in a fresh copy of
this repository (the workspace is never touched), with the backbone and the tagger this workspace's `dvc.lock`
names, checked out of its DVC cache, not retrained (the bootstrap never sees the splits, so every artist meets the
same backbone). Each artist's test figures go to metrics/artists.json.

Usage: python -m benchmarks.artists --artists noto openmoji [--scratch /tmp/artists]
"""
import argparse
import json
import tempfile
import time
from pathlib import Path

from pipeline.config.data import SPLIT_ARTISTS
from pipeline.measurement.benchmark_outputs import ARTISTS_METRICS
from pipeline.measurement.project_copy import reproduced_copy
from pipeline.paths import EVAL_METRICS

METHODS = ("arithmetic", "adapter", "adapter_tail")


def run_artist(artist: str, scratch: Path) -> dict:
    started = time.time()
    project = reproduced_copy(scratch / artist, {"artist": artist})
    metrics = json.loads((project / EVAL_METRICS).read_text())
    return {"artist": artist, "seconds": round(time.time() - started),
            "zero_shot_object_recall": metrics["test"]["zero_shot_object_recall"],
            "test_top1": {m: metrics["test"][m]["top1"] for m in METHODS},
            "val_top1": {m: metrics["val"][m]["top1"] for m in METHODS},
            "paraphrase_gap": {m: metrics["paraphrase_gap"][m] for m in METHODS}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artists", nargs="+", choices=SPLIT_ARTISTS, required=True)
    parser.add_argument("--scratch", type=Path, default=None, help="where the copies go (default: a temp dir)")
    args = parser.parse_args()
    results = json.loads(ARTISTS_METRICS.read_text()) if ARTISTS_METRICS.is_file() else {}
    with tempfile.TemporaryDirectory() as scratch:
        for artist in args.artists:
            results[artist] = run_artist(artist, args.scratch or Path(scratch))
            print(json.dumps(results[artist]))
            ARTISTS_METRICS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
