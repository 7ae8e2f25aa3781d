"""Configuration of the feature cache: `features`, and what a cache holds, from `backbone` and the tail's K,
`tail.blocks` (see pipeline/config/)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from pipeline.config.backbone import BackboneConfig
from pipeline.config.data import PhotoVariation
from pipeline.config.section import ParamsError, load_section
from pipeline.config.training import TailConfig
from pipeline.params import load_params
from pipeline.pretrained import BOOTSTRAP_WEIGHTS, verified
from submission_src.backbone import Backbone
from submission_src.images import WHITE_BALANCE_SCOPES


@dataclass(frozen=True)
class FeaturesConfig:
    SECTION: ClassVar[str] = "features"
    chunk: int  # images per resumable chunk
    decode_workers: int


@dataclass(frozen=True)
class ViewsConfig:
    """`views`: how many looks of each training image the cache holds. The first is the image as it is; each
    other is the image in a photograph drawn from `photo` (pipeline/data/photo.py), cached as more tail inputs, and
    training meets each query in every view (pipeline/training/retriever.py, `with_views`)."""

    SECTION: ClassVar[str] = "views"
    count: int = 1
    photo: PhotoVariation = PhotoVariation()
    seed: int = 0

    def __post_init__(self):
        if self.count < 1:
            raise ParamsError(f"params.yaml: views.count is {self.count}: at least 1 (the image as it is)")


@dataclass(frozen=True)
class FeatureSpec:
    """What a feature cache holds: the backbone's outputs, and the activations entering its last `tail_blocks`."""
    model: str
    pretrained: str | None
    tail_blocks: int
    white_balance: str | None = None

    def __post_init__(self):
        if self.white_balance is not None and self.white_balance not in WHITE_BALANCE_SCOPES:
            raise ParamsError(f"params.yaml: backbone.white_balance is {self.white_balance!r}: null, or one of "
                              f"{', '.join(WHITE_BALANCE_SCOPES)} (submission_src/images.py, WhiteBalance)")

    @classmethod
    def from_params(cls, params: Mapping | None = None) -> "FeatureSpec":
        params = load_params() if params is None else params
        backbone = load_section(BackboneConfig, params)
        return cls(backbone.model, backbone.pretrained, load_section(TailConfig, params).blocks, backbone.white_balance)

    @property
    def weights(self) -> str | None:
        """The checkpoint to load: the shipped stand-in (its sha256 checked) for 'bootstrap', else `pretrained`."""
        return str(verified(BOOTSTRAP_WEIGHTS)) if self.pretrained == "bootstrap" else self.pretrained

    def load_backbone(self) -> Backbone:
        return Backbone.create(self.model, self.weights, self.white_balance)
