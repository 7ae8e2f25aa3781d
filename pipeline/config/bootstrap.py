"""Configuration of the bootstrap stand-in's recipe: `bootstrap` (see pipeline/config/)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pipeline.config.section import ParamsError, build
from pipeline.params import load_params


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
    eval_every: int  # steps between recall checks on its held-out web (the curve; the weights never see them)
    data_seed: int  # not bootstrap's keys: the splits', which its web shares (the held-out object pairs)
    held_out_pair_fraction: float

    @classmethod
    def from_params(cls, params: Mapping | None = None) -> "BootstrapConfig":
        """The `bootstrap` section and what it shares with the splits: the data seed and the held-out object
        pairs, which its web never shows together either."""
        params = load_params() if params is None else params
        data = params.get("data") or {}
        shared = {"data_seed": data.get("seed"), "held_out_pair_fraction": data.get("held_out_pair_fraction")}
        if clash := set(shared) & set(params.get("bootstrap") or {}):
            raise ParamsError(f"params.yaml: bootstrap has no key {', '.join(sorted(clash))} (it is data's)")
        return build(cls, "bootstrap", {**(params.get("bootstrap") or {}), **shared})
