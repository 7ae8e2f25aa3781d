"""Configuration of the backbone: `backbone` (see pipeline/config/); a module of its own, so that the stand-in's
stage depends on no other section's code."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class BackboneConfig:
    SECTION: ClassVar[str] = "backbone"
    model: str  # open_clip architecture name, or a model-config JSON path
    pretrained: str | None  # open_clip tag, checkpoint path, or 'bootstrap'
    white_balance: str | None = None  # None, or the pixels balanced by the median colour before the tower: "image"
                                      # or "floor" (images.WhiteBalance; it ships with the model)
