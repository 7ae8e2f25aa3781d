"""adapter_tail trained and evaluated with the cached tail inputs streamed under a budget smaller than they are,
beside `evaluate`'s figures for the same schedule trained with them resident (metrics/eval.json). Needs the
pipeline's cache (`make demo`). Prints one JSON.

Usage: python -m benchmarks.streamed_training [--budget-share 0.25]
"""
import argparse
import json
import time
from dataclasses import replace

from pipeline.measurement.evaluation import split_top1
from pipeline.paths import EVAL_METRICS
from pipeline.training.experiment import Experiment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-share", type=float, default=0.25, help="the budget, a share of the tail inputs")
    args = parser.parse_args()
    experiment = Experiment.load()
    experiment.cache = replace(experiment.cache, memory_bytes=int(args.budget_share * experiment.cache.tail_bytes),
                               _resident_tail=None)
    assert not experiment.cache.tail_resident
    started = time.perf_counter()
    retriever, history = experiment.train_adapter_tail(experiment.queries("train"))
    resident = json.loads(EVAL_METRICS.read_text())
    result = {"tail_bytes": experiment.cache.tail_bytes, "budget_bytes": experiment.cache.memory_bytes,
              "train_seconds": round(time.perf_counter() - started, 1), "final_loss": round(history[-1]["loss"], 4),
              **{f"{split}_top1_streamed": round(split_top1(retriever, experiment.cache, experiment.queries(split)), 4)
                 for split in ("val", "test")},
              **{f"{split}_top1_resident": round(resident[split]["adapter_tail"]["top1"], 4)
                 for split in ("val", "test")}}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
