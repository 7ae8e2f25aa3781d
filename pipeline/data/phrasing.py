"""Query texts from wording files: templates filled with an edit's objects, with the character span of each object.

A wording file (YAML) holds a `style` (determiners, list joiners, cases) and named `families` of templates,
grouped by the slots they need: `add`, `remove`, `both`, and `none` (texts that ask for nothing). Slots are
`{add}` and `{remove}` (lists of objects with their determiners), `{keep}` (one object that stays, e.g.
"next to {keep}") and `{n_add}` / `{n_remove}` (how many objects the list holds, as a word). The spans are what
the query tagger learns from and what the held-out evaluation scores against.
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Sequence

import numpy as np
import yaml

ASSETS = Path(__file__).resolve().parents[1] / "assets"
PLAIN_WORDING = ASSETS / "phrasings" / "plain.yaml"  # the challenge's training wording ("add X and remove Y")
SEALED_WORDING = ASSETS / "sealed" / "wording.yaml"  # held-out: read by the test split and evaluate_tagger only

SLOTS = ("add", "remove", "keep", "n_add", "n_remove")
GROUPS = ("add", "remove", "both", "none")
CASES = ("keep", "lower", "upper", "capital", "title")
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six")
# Words that determine an object: a writer must not put one before a list slot (the style's lists choose each
# object's); before `{keep}`, which the brief lets a writer determine ("the {keep}"), one means: fill it bare.
DETERMINER_WORDS = ("a", "an", "the", "one", "another", "any", "some", "each", "every", "this", "these", "those",
                    "my", "your", "more")
# "that" before a list slot is mostly the conjunction ("make sure that {remove} goes"), so only {keep} reads it.
_ENDS_WITH_DETERMINER = re.compile(rf"\b({'|'.join(DETERMINER_WORDS + ('that',))})\s+$", re.IGNORECASE)


class WordingError(ValueError):
    pass


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    role: str  # "add" | "remove"
    determiner_start: int  # where the object's determiner begins ("the existing cat"); `start` when it has none


@dataclass(frozen=True)
class Phrase:
    text: str
    spans: tuple[Span, ...]
    family: str
    template: str

    def objects(self, role: str, with_determiner: bool = False) -> list[str]:
        return [self.text[s.determiner_start if with_determiner else s.start: s.end]
                for s in self.spans if s.role == role]


@dataclass(frozen=True)
class Style:
    add_determiners: tuple[str, ...]
    remove_determiners: tuple[str, ...]
    joiners: tuple[tuple[str, str], ...]  # (separator, last separator)
    cases: tuple[str, ...]


@cache  # asked for every template each time a text is drawn (train_tail: 9 million times, 12 s)
def template_slots(template: str) -> frozenset[str]:
    return frozenset(field for _, field, _, _ in string.Formatter().parse(template) if field is not None)


def slot_group(add: Sequence[str], remove: Sequence[str]) -> str:
    if add and remove:
        return "both"
    return "add" if add else "remove" if remove else "none"


@dataclass(frozen=True)
class Wording:
    """One wording file: its style and its families of templates by slot group."""

    path: str
    style: Style
    families: dict[str, dict[str, tuple[str, ...]]]

    @classmethod
    def load(cls, path: str | Path) -> "Wording":
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        style = raw["style"]
        wording = cls(str(path), Style(tuple(style["add_determiners"]), tuple(style["remove_determiners"]),
                                       tuple(tuple(j) for j in style["joiners"]), tuple(style["cases"])),
                      {name: {group: tuple(templates) for group, templates in groups.items() if templates}
                       for name, groups in raw["families"].items()})
        wording._validate()
        return wording

    def _validate(self) -> None:
        where = f"wording file {self.path}"
        if any(len(j) != 2 for j in self.style.joiners) or not self.style.joiners:
            raise WordingError(f"{where}: every joiner is a [separator, last separator] pair")
        if unknown := set(self.style.cases) - set(CASES):
            raise WordingError(f"{where}: unknown case(s) {sorted(unknown)}; known: {CASES}")
        for family, group, template in self.templates():
            slots = template_slots(template)
            needed = {"add": {"add"}, "remove": {"remove"}, "both": {"add", "remove"}, "none": set()}.get(group)
            if needed is None:
                raise WordingError(f"{where}: family {family!r} has unknown group {group!r}; known: {GROUPS}")
            if unknown := slots - set(SLOTS):
                raise WordingError(f"{where}: {family}/{group} template {template!r} uses unknown slot(s) "
                                   f"{sorted(unknown)}")
            if slots & {"add", "remove"} != needed:
                raise WordingError(f"{where}: {family}/{group} template {template!r} must use exactly the slots "
                                   f"{sorted(needed)}")

    def templates(self):
        """(family, group, template) for every template of the file."""
        for family, groups in self.families.items():
            for group, templates in groups.items():
                for template in templates:
                    yield family, group, template

    def eligible(self, group: str, add: Sequence[str], remove: Sequence[str],
                 keep: str | None) -> dict[str, list[str]]:
        """Family -> the templates of `group` that these objects can fill."""
        def fits(template: str) -> bool:
            slots = template_slots(template)
            return (("keep" not in slots or keep is not None) and ("n_add" not in slots or len(add) >= 2)
                    and ("n_remove" not in slots or len(remove) >= 2))
        found = {family: [t for t in groups.get(group, ()) if fits(t)] for family, groups in self.families.items()}
        return {family: templates for family, templates in found.items() if templates}

    def choose(self, group: str, add: Sequence[str], remove: Sequence[str], keep: str | None,
               rng: np.random.Generator) -> tuple[str, str]:
        """(family, template): a family drawn uniformly, then one of its templates these objects can fill."""
        options = self.eligible(group, add, remove, keep)
        if not options:
            raise WordingError(f"wording file {self.path} has no {group!r} template for add={list(add)}, "
                               f"remove={list(remove)}, keep={keep!r}")
        family = sorted(options)[rng.integers(len(options))]
        return family, options[family][rng.integers(len(options[family]))]

    def sample(self, add: Sequence[str], remove: Sequence[str], rng: np.random.Generator,
               keep: str | None = None, group: str | None = None) -> Phrase:
        """A text for the edit, in a style drawn from the file."""
        family, template = self.choose(group or slot_group(add, remove), add, remove, keep, rng)
        return compose(template, add, remove, keep, self.style, rng, family)


def merged_style(styles: Sequence[Style]) -> Style:
    """Every determiner, joiner and case any of `styles` uses."""
    unique = lambda items: tuple(dict.fromkeys(items))  # noqa: E731
    return Style(unique(d for s in styles for d in s.add_determiners),
                 unique(d for s in styles for d in s.remove_determiners),
                 unique(j for s in styles for j in s.joiners), unique(c for s in styles for c in s.cases))


def joined(first: Phrase, connector: str, second: Phrase) -> Phrase:
    """Two phrases as one text (an edit told in two parts), spans moved along."""
    shift = len(first.text) + len(connector)
    spans = first.spans + tuple(Span(s.start + shift, s.end + shift, s.role, s.determiner_start + shift)
                                for s in second.spans)
    return Phrase(first.text + connector + second.text, spans, first.family,
                  f"{first.template}{connector}{second.template}")


def _pick(options: Sequence, rng: np.random.Generator):
    return options[rng.integers(len(options))]


def _with_determiner(name: str, determiner: str) -> str:
    if determiner == "a" and name[:1].lower() in tuple("aeiou"):
        determiner = "an"
    return f"{determiner} {name}" if determiner else name


def _render_list(names: Sequence[str], determiner: str,
                 joiner: tuple[str, str]) -> tuple[str, list[tuple[int, int, int]]]:
    """"a cat, a dog and a fox" and, for each name, where its determiner starts, where it starts and ends."""
    text, ranges = "", []
    for i, name in enumerate(names):
        if i:
            text += joiner[1] if i == len(names) - 1 else joiner[0]
        item = _with_determiner(name, determiner)
        start = len(text) + len(item) - len(name)
        ranges.append((len(text), start, start + len(name)))
        text += item
    return text, ranges


def _apply_case(text: str, case: str) -> str:
    cased = {"lower": text.lower(), "upper": text.upper(), "title": text.title(),
             "capital": text[:1].upper() + text[1:]}.get(case, text)
    return cased if len(cased) == len(text) else text  # the spans must still point at the objects


def compose(template: str, add: Sequence[str], remove: Sequence[str], keep: str | None, style: Style,
            rng: np.random.Generator, family: str = "") -> Phrase:
    """Fills `template` with the objects in a style drawn from `style`; records where each object landed."""
    joiner = _pick(style.joiners, rng)
    rendered = {"add": _render_list(add, _pick(style.add_determiners, rng), joiner),
                "remove": _render_list(remove, _pick(style.remove_determiners, rng), joiner)}
    text, spans = "", []
    for literal, slot, _, _ in string.Formatter().parse(template):
        text += literal
        if slot in ("add", "remove"):
            value, ranges = rendered[slot]
            spans += [Span(len(text) + a, len(text) + b, slot, len(text) + d) for d, a, b in ranges]
            text += value
        elif slot == "keep":
            determined = _ENDS_WITH_DETERMINER.search(text)
            text += keep if determined else _with_determiner(keep, _pick(style.remove_determiners, rng))
        elif slot in ("n_add", "n_remove"):
            text += NUMBER_WORDS[len(add if slot == "n_add" else remove)]
    return Phrase(_apply_case(text, _pick(style.cases, rng)), tuple(spans), family, template)


@cache
def load_wording(path: str | Path) -> Wording:
    return Wording.load(path)
