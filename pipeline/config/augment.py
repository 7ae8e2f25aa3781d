"""Configuration of the edit algebra's training pairs: `augment` (see pipeline/config/)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class AugmentConfig:
    SECTION: ClassVar[str] = "augment"
    reverse: bool = False  # each triplet's inverse edit
    compose: int = 0  # composed pairs per triplet at most
    varied_wording: float = 0.0  # share of training texts worded from the tagger's training wording files
    seed: int = 0

    @property
    def off(self) -> bool:
        return not self.reverse and not self.compose and not self.varied_wording
