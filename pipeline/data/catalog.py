"""The object catalog: which emoji objects exist and what they are called."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

CATALOG_PATH = Path(__file__).resolve().parents[1] / "assets" / "objects.tsv"


@dataclass(frozen=True)
class CatalogObject:
    index: int
    codepoint: str
    name: str

    @property
    def char(self) -> str:
        return chr(int(self.codepoint, 16))

    @property
    def article(self) -> str:
        return "an" if self.name[0] in "aeiou" else "a"


@cache
def load_catalog(path: Path = CATALOG_PATH) -> tuple[CatalogObject, ...]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    objects = tuple(CatalogObject(i, r["codepoint"].strip(), r["name"].strip()) for i, r in enumerate(rows))
    names = [o.name for o in objects]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: duplicate object names")
    return objects

