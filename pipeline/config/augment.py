"""Configuration of the edit algebra's training pairs: `augment` (pipeline/config/__init__.py says why here)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AugmentConfig:
    reverse: bool = False  # each triplet's inverse edit
    compose: int = 0  # composed pairs per triplet at most
    varied_wording: float = 0.0  # share of training texts worded from the tagger's training wording files
    seed: int = 0

    @classmethod
    def from_params(cls, p: dict) -> "AugmentConfig":
        return cls(bool(p["reverse"]), int(p["compose"]), float(p["varied_wording"]), int(p["seed"]))

    @property
    def off(self) -> bool:
        return not self.reverse and not self.compose and not self.varied_wording
