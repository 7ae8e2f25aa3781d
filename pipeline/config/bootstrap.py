"""Configuration of the bootstrap stand-in's recipe: `bootstrap` (pipeline/config/__init__.py says why here)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BootstrapConfig:
    steps: int
    batch_size: int
    lr: float
    warmup_steps: int
    weight_decay: float
    text_batch: int
    logit_scale: float
    seed: int
    render_workers: int
    data_seed: int
    held_out_pair_fraction: float

    @classmethod
    def from_params(cls, params: dict) -> "BootstrapConfig":
        """The `bootstrap` section (less `eval_every`, the stage's, not the recipe's) and what it shares with the
        splits: the data seed and the held-out object pairs, which its web never shows together either."""
        return cls(**{k: v for k, v in params["bootstrap"].items() if k != "eval_every"},
                   data_seed=params["data"]["seed"], held_out_pair_fraction=params["data"]["held_out_pair_fraction"])
