"""Configuration of the backbone and the cache's K: `backbone`, `features.tail_blocks` (see pipeline/config/)."""
from __future__ import annotations

from dataclasses import dataclass

from pipeline.pretrained import BOOTSTRAP_WEIGHTS, verified
from submission_src.backbone import Backbone


@dataclass(frozen=True)
class FeatureSpec:
    model: str  # open_clip architecture name, or a model-config JSON path
    pretrained: str | None  # open_clip tag, checkpoint path, or 'bootstrap'
    tail_blocks: int

    @classmethod
    def from_params(cls, params: dict) -> "FeatureSpec":
        backbone = params["backbone"]
        return cls(backbone["model"], backbone["pretrained"], int(params["features"]["tail_blocks"]))

    @property
    def weights(self) -> str | None:
        """The checkpoint to load: the shipped stand-in (its sha256 checked) for 'bootstrap', else `pretrained`."""
        return str(verified(BOOTSTRAP_WEIGHTS)) if self.pretrained == "bootstrap" else self.pretrained

    def load_backbone(self) -> Backbone:
        return Backbone.create(self.model, self.weights)
