"""Configuration of the names the tagger knows at the judge: `names` (see pipeline/config/)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class NamesConfig:
    SECTION: ClassVar[str] = "names"
    wordnet: tuple[str, ...]  # WordNet noun files whose nouns the tagger knows by name ("bird cage")
