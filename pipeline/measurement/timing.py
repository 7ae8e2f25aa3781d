"""What the speed stage and the GPU check time: a training epoch from the cache, or recomputing what it holds."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from pipeline.training.experiment import Experiment
from submission_src.backbone import Backbone
from submission_src.images import load_rgb

TIMED_BATCHES = 6  # batches an on-the-fly epoch is timed over, then scaled to the epoch


class LiveFeatures:
    """What the cache holds, recomputed from the image files on every call."""

    def __init__(self, backbone: Backbone, paths: np.ndarray, tail_blocks: int):
        self.backbone, self.paths, self.tail_blocks = backbone, paths, tail_blocks

    def _pixels(self, rows: np.ndarray) -> torch.Tensor:
        pixels = torch.stack([self.backbone.preprocess(load_rgb(p)[0]) for p in self.paths[rows]])
        return pixels.to(self.backbone.device, non_blocking=True)

    @torch.no_grad()
    def embeddings(self, rows: np.ndarray) -> torch.Tensor:
        return self.backbone.encode_image(self._pixels(rows))

    @torch.no_grad()
    def tail_inputs(self, rows: np.ndarray) -> torch.Tensor:
        return self.backbone.trunk(self._pixels(rows), self.tail_blocks)


def epoch_seconds(experiment: Experiment, features, queries, with_tail: bool, max_batches: int | None) -> float:
    """One epoch's seconds (scaled from `max_batches`), training from `features`: the cache or live images."""
    one_epoch = {"epochs": 1, "weight_decay": 0.0, "seed": 0}
    if with_tail:
        _, history = experiment.train_adapter_tail(queries, desc="timing", features=features, max_batches=max_batches,
                                                   tail=replace(experiment.settings.tail, **one_epoch))
    else:
        _, history = experiment.train_adapter(queries, desc="timing", features=features, max_batches=max_batches,
                                              schedule=replace(experiment.settings.adapter.schedule, **one_epoch))
    return history[0]["epoch_seconds"]
