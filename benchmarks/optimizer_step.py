"""The tail's AdamW step, PyTorch's default implementation on this device against the fused one the trainer uses,
over the parameters `train_tail` trains (params.yaml's backbone and K, the fusion adapter beside them), with a
training batch's time for scale. Rounds alternate, so both see the same machine. Prints one JSON.

Usage: python -m benchmarks.optimizer_step [--steps 30] [--rounds 3]
"""
import argparse
import json
import time
from dataclasses import replace

import numpy as np
import torch

from pipeline.training.batches import reference_group_batches
from pipeline.training.experiment import Experiment

IMPLEMENTATIONS = {"default": {}, "fused": {"fused": True}}


def step_seconds(parameters: list[torch.Tensor], options: dict, steps: int) -> float:
    optimizer = torch.optim.AdamW(parameters, lr=1e-4, weight_decay=0.1, **options)
    optimizer.step()  # the moments' first allocation stays out of the timing
    started = time.perf_counter()
    for _ in range(steps):
        optimizer.step()
    return (time.perf_counter() - started) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    experiment = Experiment.load()
    backbone = experiment.spec.load_backbone()
    parameters = [p.detach().clone().requires_grad_(True) for p in
                  [*backbone.tail_parameters(experiment.spec.tail_blocks).values(), *experiment.fusion().parameters()]]
    for parameter in parameters:
        parameter.grad = torch.randn_like(parameter)
    seconds = {name: [] for name in IMPLEMENTATIONS}
    for _ in range(args.rounds):
        for name, options in IMPLEMENTATIONS.items():
            seconds[name].append(step_seconds(parameters, options, args.steps))
    tail = replace(experiment.settings.tail, epochs=1)
    queries = experiment.training_queries()
    _, history = experiment.train_adapter_tail(queries, max_batches=4, tail=tail)
    batches = len(reference_group_batches(queries, tail.batch_size, np.random.default_rng(tail.seed)))
    best = {name: min(times) for name, times in seconds.items()}
    print(json.dumps({"parameters": sum(p.numel() for p in parameters), "tensors": len(parameters),
                      **{f"{name}_step_ms": round(1000 * s, 1) for name, s in best.items()},
                      "default_over_fused": round(best["default"] / best["fused"], 2),
                      "training_batch_s": round(history[0]["epoch_seconds"] / batches, 3)}, indent=2))


if __name__ == "__main__":
    main()
