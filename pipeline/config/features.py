"""Configuration of the feature cache: `features`, and what a cache holds, from `backbone` and the tail's K,
`tail.blocks` (see pipeline/config/)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from pipeline.config.backbone import BackboneConfig
from pipeline.config.section import load_section
from pipeline.config.training import TailConfig
from pipeline.params import load_params
from pipeline.pretrained import BOOTSTRAP_WEIGHTS, verified
from submission_src.backbone import Backbone


@dataclass(frozen=True)
class FeaturesConfig:
    SECTION: ClassVar[str] = "features"
    chunk: int  # images per resumable chunk
    decode_workers: int


@dataclass(frozen=True)
class FeatureSpec:
    """What a feature cache holds: the backbone's outputs, and the activations entering its last `tail_blocks`."""
    model: str
    pretrained: str | None
    tail_blocks: int

    @classmethod
    def from_params(cls, params: Mapping | None = None) -> "FeatureSpec":
        params = load_params() if params is None else params
        backbone = load_section(BackboneConfig, params)
        return cls(backbone.model, backbone.pretrained, load_section(TailConfig, params).blocks)

    @property
    def weights(self) -> str | None:
        """The checkpoint to load: the shipped stand-in (its sha256 checked) for 'bootstrap', else `pretrained`."""
        return str(verified(BOOTSTRAP_WEIGHTS)) if self.pretrained == "bootstrap" else self.pretrained

    def load_backbone(self) -> Backbone:
        return Backbone.create(self.model, self.weights)
