"""Configuration of the names the tagger knows at the judge, and its adaptation to them: `names` (see
pipeline/config/)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class NamesConfig:
    SECTION: ClassVar[str] = "names"
    wordnet: tuple[str, ...]  # WordNet noun files whose nouns the tagger knows by name ("bird cage")
    adapt_steps: int = 0  # steps the shipped tagger trains on with the training split's names (0: decoding only)
    adapt_share: float = 0.5  # share of those steps' objects that are the training split's names
    adapt_lr: float = 0.001
