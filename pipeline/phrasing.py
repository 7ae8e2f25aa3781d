"""Query texts for the synthetic splits: templates from `assets/phrasings.yaml` filled with an edit's objects."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import yaml

from pipeline.scenes import Edit

PHRASINGS_PATH = Path(__file__).parent / "assets" / "phrasings.yaml"


@dataclass(frozen=True)
class TextStyle:
    add_article: str
    remove_article: str
    joiner: str
    case: str
    end: str


@dataclass(frozen=True)
class Family:
    templates: dict[str, tuple[str, ...]]  # slot group ("add", "remove", "both") -> templates
    add_articles: tuple[str, ...]
    remove_articles: tuple[str, ...]
    joiners: tuple[str, ...]
    cases: tuple[str, ...]
    ends: tuple[str, ...]

    def sample(self, edit: Edit, rng: np.random.Generator) -> tuple[str, TextStyle]:
        options = self.templates[slot_group(edit)]
        template = options[rng.integers(len(options))]
        pick = lambda xs: xs[rng.integers(len(xs))]  # noqa: E731
        style = TextStyle(pick(self.add_articles), pick(self.remove_articles), pick(self.joiners),
                          pick(self.cases), pick(self.ends))
        return template, style


@cache
def load_families(path: Path = PHRASINGS_PATH) -> dict[str, Family]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {
        name: Family(
            templates={group: tuple(ts) for group, ts in spec["templates"].items()},
            **{key: tuple(spec[key]) for key in ("add_articles", "remove_articles", "joiners", "cases", "ends")},
        )
        for name, spec in raw.items()
    }


def slot_group(edit: Edit) -> str:
    if edit.add and edit.remove:
        return "both"
    return "add" if edit.add else "remove"


def _with_article(name: str, article: str) -> str:
    if article == "a":
        article = "an" if name[0] in "aeiou" else "a"
    return f"{article} {name}" if article else name


def _join(items: list[str], joiner: str) -> str:
    if len(items) <= 1:
        return "".join(items)
    if joiner == "ampersand":
        return " & ".join(items)
    if joiner == "comma":
        return ", ".join(items)
    head, last = ", ".join(items[:-1]), items[-1]
    return f"{head}, and {last}" if joiner == "oxford" and len(items) > 2 else f"{head} and {last}"


def _apply_case(text: str, case: str) -> str:
    if case == "lower":
        return text.lower()
    if case == "upper":
        return text.upper()
    if case == "title":
        return text.title()
    if case == "capital":
        return text[0].upper() + text[1:]
    return text


def compose(template: str, edit: Edit, style: TextStyle) -> str:
    """Fills `template` with the edit's objects, written in `style`."""
    text = template.format(
        add=_join([_with_article(n, style.add_article) for n in edit.add], style.joiner),
        remove=_join([_with_article(n, style.remove_article) for n in edit.remove], style.joiner),
    )
    return _apply_case(text, style.case) + style.end
