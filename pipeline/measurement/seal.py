"""The seal between the wording a tagger learns from or is chosen on, and the held-out wording it is scored on.

A held-out template is a near-copy of another when the two, folded (lower case, punctuation and spacing folded,
slots kept), are at most one word apart (one word changed, added or dropped), or when the other contains it whole
and it is three words or more. A brief leaks held-out wording when a phrase it quotes is inside a held-out
template: three words or more, or two when one is a slot ("without {remove}"). The challenge's own rigid
templates ("add {add} and remove {remove}", `plain.yaml`, folded) are every wording's building blocks and are
never counted.

Before a new held-out file is sealed, its writer's candidates that near-copy the training or development wording,
or that a brief quotes, are dropped (never rewritten here: that would make this repository their author):

    python -m pipeline.measurement.seal CANDIDATES.yaml [MORE.yaml ...] SEALED.yaml --source "who wrote it, when, how"

Several writers' candidates are sealed into one file: their styles merged, every file's families (a family name
two files share gets the file's position as suffix). A training or development file written after the seal is
trimmed instead, in place: every template of it that makes a held-out one a near-copy goes.

    python -m pipeline.measurement.seal --trim WRITER.yaml [MORE.yaml ...]

A list of object names written for development is trimmed the same way, in place: a name the sealed list holds,
a catalog name, an emoji's Unicode name (the stand-in may learn those) or a word of the tagger's open vocabulary
goes, so that it scores names the tagger never saw without reading the seal's.

    python -m pipeline.measurement.seal --trim-names NAMES.txt
"""
from __future__ import annotations

import argparse
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from pipeline.config.section import load_section
from pipeline.config.tagger import TaggerConfig, TaggerDevelopment
from pipeline.data.phrasing import PLAIN_WORDING, SEALED_WORDING, Style, Wording, merged_style
from pipeline.data.wording_check import folded

Words = tuple[str, ...]
QUOTED = re.compile(r'["“`]([^"“”`\n]{3,200})["”`]')  # a phrase a brief quotes
MIN_CONTAINED_WORDS = 3  # shorter templates (a verb and a slot) are building blocks every wording shares
MIN_QUOTED_WORDS = 3  # or two, one of them a slot
SEALED_NAMES = SEALED_WORDING.parent / "names.txt"
EMOJI_BLOCKS = ((0x2300, 0x23FF), (0x2600, 0x27BF), (0x2B00, 0x2BFF), (0x1F000, 0x1FAFF))  # the stand-in's names


def name_list(path: Path) -> list[str]:
    """The names of a names file: one per line, comment lines ("# ...") aside."""
    return [line for line in Path(path).read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]


def comment_header(path: str | Path) -> str:
    """A file's comment lines ("# ..."), which a trim keeps above what it writes."""
    return "".join(line + "\n" for line in Path(path).read_text(encoding="utf-8").splitlines() if line.startswith("#"))


def emoji_names() -> set[str]:
    return {unicodedata.name(chr(c), "").lower() for lo, hi in EMOJI_BLOCKS for c in range(lo, hi + 1)} - {""}


def words(template: str) -> Words:
    return tuple(folded(template).split())


def _substitutions(w: Words) -> list[Words]:
    return [w[:i] + ("\0",) + w[i + 1:] for i in range(len(w))]


def _deletions(w: Words) -> list[Words]:
    return [w[:i] + w[i + 1:] for i in range(len(w))]


class NearCopyIndex:
    """Templates indexed so that asking for a near-copy of one costs a few set look-ups, not a pass over all."""

    def __init__(self, templates: Iterable[str]):
        self.whole: dict[Words, str] = {}
        self.substituted: dict[Words, str] = {}
        self.deleted: dict[Words, str] = {}
        for template in templates:
            w = words(template)
            self.whole.setdefault(w, template)
            for key in _substitutions(w):
                self.substituted.setdefault(key, template)
            for key in _deletions(w):
                self.deleted.setdefault(key, template)
        # folded templates are single-spaced words: a whole-word containment is a substring with a space each side
        self._joined = "\n".join(f" {' '.join(w)} " for w in self.whole)
        self._by_line = list(self.whole.values())

    def near_copy(self, template: str) -> str | None:
        """An indexed template at most one word from `template`, or containing it whole; None when there is none."""
        w = words(template)
        found = (self.whole.get(w) or next((self.substituted[k] for k in _substitutions(w) if k in self.substituted),
                                           None)
                 or self.deleted.get(w) or next((self.whole[k] for k in _deletions(w) if k in self.whole), None))
        if found or len(w) < MIN_CONTAINED_WORDS:
            return found
        at = self._joined.find(f" {' '.join(w)} ")
        return None if at < 0 else self._by_line[self._joined.count("\n", 0, at)]


def quoted_phrases(text: str) -> list[str]:
    """The phrases a brief quotes, folded, long enough to be wording rather than a common pair of words."""
    quoted = [words(q) for q in QUOTED.findall(text)]
    return [" ".join(w) for w in quoted
            if len(w) >= MIN_QUOTED_WORDS or (len(w) == 2 and any(word.startswith("{") for word in w))]


@dataclass(frozen=True)
class Clash:
    heldout: str
    source: str  # what it repeats: a template, or a brief's path and quote
    template: str | None = None  # the training or development template it repeats

    def __str__(self) -> str:
        return f"{self.heldout!r} repeats {self.source}"


class Seal:
    """What held-out wording may not repeat: the training and development templates, and what briefs quote."""

    def __init__(self, templates: Iterable[str], briefs: Iterable[Path] = ()):
        self.templates = NearCopyIndex(templates)
        self.rigid = {words(t) for _, _, t in Wording.load(PLAIN_WORDING).templates()}
        self.quotes = [(path, quote) for path in briefs for quote in quoted_phrases(path.read_text(encoding="utf-8"))
                       if tuple(quote.split()) not in self.rigid]

    def clash(self, heldout: str) -> Clash | None:
        if words(heldout) in self.rigid:
            return None
        if found := self.templates.near_copy(heldout):
            return Clash(heldout, f"template {found!r}", found)
        padded = f" {' '.join(words(heldout))} "
        return next((Clash(heldout, f"{path.name}'s quote {quote!r}") for path, quote in self.quotes
                     if f" {quote} " in padded), None)

    def clashes(self, heldout: Wording) -> list[Clash]:
        return [c for _, _, template in heldout.templates() if (c := self.clash(template))]


def wording_data(style: Style, families: dict) -> dict:
    """A wording file's YAML data."""
    return {"style": {"add_determiners": list(style.add_determiners),
                      "remove_determiners": list(style.remove_determiners),
                      "joiners": [list(j) for j in style.joiners], "cases": list(style.cases)},
            "families": {name: groups for name, groups in families.items() if groups}}


def sealed(candidates: list[Wording], seal: Seal) -> tuple[dict, list[Clash]]:
    """The candidates' files as one file's YAML data, less every template that clashes and every repeat of a kept
    one (two writers may write the same words), and the clashes."""
    dropped = [clash for wording in candidates for clash in seal.clashes(wording)]
    gone = {c.heldout for c in dropped}
    families, seen = {}, set()
    for position, wording in enumerate(candidates, 1):
        for name, groups in wording.families.items():
            kept = {}
            for group, templates in groups.items():
                kept[group] = [t for t in templates if t not in gone and words(t) not in seen]
                seen.update(words(t) for t in kept[group])
            families[name if name not in families else f"{name}_{position}"] = {g: t for g, t in kept.items() if t}
    return wording_data(merged_style([w.style for w in candidates]), families), dropped


def trimmed(wording: Wording, heldout: Wording) -> tuple[dict, set[str]]:
    """`wording`'s YAML data less every template that makes a held-out template a near-copy, and those templates."""
    gone: set[str] = set()
    while found := {c.template for c in Seal(t for _, _, t in wording.templates() if t not in gone).clashes(heldout)
                    if c.template}:
        gone |= found
    families = {name: {group: [t for t in templates if t not in gone] for group, templates in groups.items()}
                for name, groups in wording.families.items()}
    return wording_data(wording.style, {n: {g: t for g, t in gs.items() if t} for n, gs in families.items()}), gone


def project_seal(config: TaggerConfig, development: TaggerDevelopment, briefs_root: Path = Path("pipeline/assets")
                 ) -> Seal:
    """The seal for this project's held-out wording: every template the tagger trains on (the WordNet verbs' too)
    or is chosen on, and every brief under `briefs_root` and heldout/."""
    from pipeline.training.tagging import corpus_wordings

    wordings = [*corpus_wordings(config), *(Wording.load(path) for path in development.wordings)]
    briefs = sorted(briefs_root.rglob("*.md")) + sorted(Path("heldout").rglob("*.md"))
    return Seal((t for w in wordings for _, _, t in w.templates()), briefs)


def trim(paths: list[str]) -> None:
    heldout = Wording.load(SEALED_WORDING)
    for path in paths:
        data, gone = trimmed(Wording.load(path), heldout)
        header = comment_header(path) + (f"# {len(gone)} templates within one word of the held-out wording were "
                                         f"dropped (python -m pipeline.measurement.seal --trim).\n")
        Path(path).write_text(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120),
                              encoding="utf-8")
        print(f"{path}: {len(gone)} templates dropped")


def trim_names(path: str, vocabulary: str) -> None:
    from pipeline.data.catalog import load_catalog
    from pipeline.training.tagging import open_vocabulary

    vocabulary_nouns = open_vocabulary(vocabulary)["nouns"]
    taken = (set(name_list(SEALED_NAMES)) | {o.name.lower() for o in load_catalog()} | emoji_names()
             | {n.lower() for n in vocabulary_nouns})
    names = list(dict.fromkeys(name_list(path)))
    kept = [n for n in names if n not in taken]
    header = comment_header(path) + (f"# {len(names) - len(kept)} names equal to a sealed, catalog, emoji or "
                                     f"open-vocabulary name were dropped (python -m pipeline.measurement.seal "
                                     f"--trim-names).\n")
    Path(path).write_text(header + "".join(n + "\n" for n in kept), encoding="utf-8")
    print(f"{path}: {len(names) - len(kept)} names dropped, {len(kept)} kept")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trim", nargs="+", metavar="WORDING", help="trim these files against the sealed wording")
    parser.add_argument("--trim-names", metavar="NAMES", help="trim this development names file against the seal")
    parser.add_argument("candidates", nargs="*")
    parser.add_argument("--source", help="the header's first line: who wrote it, when, how briefed")
    parser.add_argument("--read-by", default="the test split and evaluate_tagger", help="what alone reads the file")
    args = parser.parse_args(argv)
    if args.trim:
        return trim(args.trim)
    if args.trim_names:
        return trim_names(args.trim_names, load_section(TaggerConfig).vocabulary)
    if len(args.candidates) < 2 or not args.source:
        parser.error("sealing takes CANDIDATES.yaml [MORE.yaml ...] SEALED.yaml and --source")
    *paths, out = args.candidates
    candidates = [Wording.load(path) for path in paths]
    data, dropped = sealed(candidates, project_seal(load_section(TaggerConfig), load_section(TaggerDevelopment)))
    kept = sum(len(t) for groups in data["families"].values() for g, t in groups.items() if g != "none")
    total = sum(1 for wording in candidates for _, group, _ in wording.templates() if group != "none")
    header = (f"# {args.source}\n# Sealed on writing: never edited, read only by {args.read_by}.\n"
              f"# {total - kept} of the writers' {total} edit templates were dropped before sealing "
              f"(python -m pipeline.measurement.seal): each was at most one word from a training or development "
              f"template, quoted by a brief, or a repeat.\n")
    Path(out).write_text(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120),
                         encoding="utf-8")
    print("\n".join(f"dropped: {c}" for c in dropped))
    print(f"{kept} edit templates kept of {total}, in {len(data['families'])} families -> {out}")


if __name__ == "__main__":
    main()
