"""DVC stage `evaluate`: every method under the judge's protocol on val, test, the test split's plain twin (the
paraphrase gap) and the out-of-generator split, with per-query detail and the diagnosis of misses
(pipeline/measurement/evaluation.py)."""
import json

import numpy as np

from pipeline.console import run_stage, show_logs
from pipeline.measurement.evaluation import evaluate_methods
from pipeline.paths import DIAGNOSIS_METRICS, EVAL_METRICS, GALLERIES, METRICS, TEST_EMBEDDINGS
from pipeline.pretrained import CheckpointError
from pipeline.shipping.package import SHIPPABLE
from pipeline.training.experiment import Experiment


def main() -> None:
    show_logs()
    GALLERIES.mkdir(parents=True, exist_ok=True)
    metrics, diagnosis, shippable = evaluate_methods(Experiment.load(), keep=SHIPPABLE)
    if shippable:  # what verify holds the packaged model's rows against
        np.savez(TEST_EMBEDDINGS, **shippable)
    METRICS.mkdir(exist_ok=True)
    EVAL_METRICS.write_text(json.dumps(metrics, indent=2) + "\n")
    DIAGNOSIS_METRICS.write_text(json.dumps(diagnosis, indent=2) + "\n")


if __name__ == "__main__":
    run_stage(main, (CheckpointError,))
