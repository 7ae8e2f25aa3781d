"""The object catalogs: which emoji objects exist and what they are called.

`objects.tsv` is the catalog our worlds are drawn from (the splits, the stand-in's web and its held-out pairs).
`web_objects.tsv` holds every other object-like emoji that the stand-in's three web artists (Noto, OpenMoji,
Twemoji) all draw, under its Unicode name: objects no split of ours shows, from which `data.objects:
beyond_catalog` draws splits of a team's own objects (benchmarks/team_objects.py). It was listed once from
emoji-datasource 16.0.0's `emoji.json` (the npm package the twemoji artist comes in): single code points of the
categories Activities, Animals & Nature, Food & Drink, Objects and Travel & Places (less their time, hotel, map and
geography subcategories), less the catalog's and the nine that Noto Color Emoji or OpenMoji cannot draw.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

CATALOG_PATH = Path(__file__).resolve().parents[1] / "assets" / "objects.tsv"
WEB_OBJECTS_PATH = CATALOG_PATH.with_name("web_objects.tsv")


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


def _rows(path: Path) -> list[tuple[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return [(r["codepoint"].strip(), r["name"].strip()) for r in csv.DictReader(f, delimiter="\t")]


def _indexed(rows: list[tuple[str, str]], source: Path) -> tuple[CatalogObject, ...]:
    objects = tuple(CatalogObject(i, codepoint, name) for i, (codepoint, name) in enumerate(rows))
    names = [o.name for o in objects]
    if len(set(names)) != len(names):
        raise ValueError(f"{source}: duplicate object names")
    return objects


@cache
def load_catalog(path: Path = CATALOG_PATH) -> tuple[CatalogObject, ...]:
    return _indexed(_rows(path), path)


@cache
def load_web_catalog() -> tuple[CatalogObject, ...]:
    """The catalog, then the web's other objects: a catalog object keeps its index."""
    return _indexed(_rows(CATALOG_PATH) + _rows(WEB_OBJECTS_PATH), WEB_OBJECTS_PATH)


@cache
def web_object(name: str) -> CatalogObject:
    """The catalog or web object called `name`."""
    for obj in load_web_catalog():
        if obj.name == name:
            return obj
    raise KeyError(f"no catalog or web object is called {name!r}")
