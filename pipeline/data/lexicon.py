"""Verbs for adding and removing that no writer's template showed, from WordNet 3.0 (the Debian package
`wordnet-base`), turned into tagger training templates while the tagger trains; nothing of WordNet ships beyond
the tagger's weights.

A seed is a verb sense, `lemma.N` (WordNet's N-th sense of the lemma, as `wn remove -over` lists them), or
`lemma.N@D` to set its own depth; its synonyms and, to `depth` levels, its hyponyms (more specific ways to do the
same: remove → evict, banish, strip)
become imperative templates ("evict {remove}", "please conjure up {add}", "banish {remove} and bring in {add}").
A lemma that both sides reach is left out: it says nothing about the role.

Names come from here too: WordNet's nouns of chosen lexicographer files ("artifact", "food": every made thing
and dish WordNet names, multi-word ones included — "bird cage", "paper towel"), which the tagger knows by name at
the judge (pipeline/data/names.py).
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

from pipeline.data.phrasing import Style, Wording

WORDNET = Path("/usr/share/wordnet")
LEXICON = "wordnet"  # a tagger.corpus entry: templates made here instead of read from a wording file
FIX = "make setup  (it installs the Debian package wordnet-base)"
STYLE = Style(add_determiners=("a", "one more", ""), remove_determiners=("the", "that", ""),
              joiners=((", ", " and "), (" and ", " and ")), cases=("lower", "capital"))
FRAMES = {  # per group: how a verb (or two) meets its slot
    "add": ("{add_verb} {add}", "please {add_verb} {add}", "{add_verb} {add} here", "could you {add_verb} {add}?"),
    "remove": ("{remove_verb} {remove}", "please {remove_verb} {remove}", "{remove_verb} {remove} from the scene",
               "could you {remove_verb} {remove}?"),
    "both": ("{add_verb} {add} and {remove_verb} {remove}", "{remove_verb} {remove} and {add_verb} {add}",
             "{remove_verb} {remove}, then {add_verb} {add}", "please {add_verb} {add} and {remove_verb} {remove}"),
}


class LexiconMissingError(RuntimeError):
    pass


@cache
def verb_graph(root: Path = WORDNET) -> tuple[dict[str, list[str]], dict[str, list[str]], dict[str, list[str]]]:
    """WordNet's verbs: synset -> lemmas, synset -> hyponym synsets, lemma -> its senses' synsets in order."""
    data, index = root / "data.verb", root / "index.verb"
    if not data.is_file() or not index.is_file():
        raise LexiconMissingError(f"WordNet's verb files are not in {root}: run {FIX}")
    lemmas, hyponyms, senses = {}, {}, {}
    for line in data.read_text(encoding="latin-1").splitlines():
        if line.startswith("  "):  # the licence header
            continue
        fields = line.split(" | ")[0].split()
        offset, count = fields[0], int(fields[3], 16)
        lemmas[offset] = [fields[4 + 2 * i].replace("_", " ") for i in range(count)]
        at = 4 + 2 * count
        pointers = [fields[at + 1 + 4 * i: at + 5 + 4 * i] for i in range(int(fields[at]))]
        hyponyms[offset] = [target for symbol, target, pos, _ in pointers if symbol == "~" and pos == "v"]
    for line in index.read_text(encoding="latin-1").splitlines():
        if line.startswith("  "):
            continue
        fields = line.split()
        synsets = int(fields[2])
        senses[fields[0].replace("_", " ")] = fields[-synsets:]
    return lemmas, hyponyms, senses


def verbs(seeds: list[str], depth: int, root: Path = WORDNET) -> set[str]:
    """The lemmas of the seed senses (`lemma.N`, or `lemma.N@D`: its own depth), their synonyms and their
    hyponyms to `depth` levels."""
    lemmas, hyponyms, senses = verb_graph(root)
    found = set()
    for seed in seeds:
        sense, _, own_depth = seed.partition("@")
        lemma, _, number = sense.rpartition(".")
        if lemma not in senses or not number.isdigit() or not 1 <= int(number) <= len(senses[lemma]):
            raise ValueError(f"tagger.lexicon seed {seed!r}: WordNet has no such verb sense")
        frontier = [senses[lemma][int(number) - 1]]
        for _ in range(int(own_depth or depth) + 1):
            found |= {lemma for synset in frontier for lemma in lemmas[synset]}
            frontier = [h for synset in frontier for h in hyponyms[synset]]
    return {lemma for lemma in found if lemma.replace(" ", "").replace("-", "").isalpha() and lemma.islower()
            and len(lemma.split()) <= 3}


NOUN_FILES = {"animal": 5, "artifact": 6, "food": 13, "object": 17, "plant": 20}  # WordNet's lexicographer files


@cache
def nouns(files: tuple[str, ...], root: Path = WORDNET) -> tuple[str, ...]:
    """The lower-case lemmas (one to three words of letters and hyphens) of WordNet's noun synsets in `files`."""
    data = root / "data.noun"
    if not data.is_file():
        raise LexiconMissingError(f"WordNet's noun file is not in {root}: run {FIX}")
    if unknown := set(files) - set(NOUN_FILES):
        raise ValueError(f"names.wordnet: unknown noun file(s) {sorted(unknown)}; known: {sorted(NOUN_FILES)}")
    wanted = {NOUN_FILES[f] for f in files}
    found = set()
    for line in data.read_text(encoding="latin-1").splitlines():
        fields = line.split()
        if line.startswith("  ") or int(fields[1]) not in wanted:
            continue
        for i in range(int(fields[3], 16)):
            lemma = fields[4 + 2 * i].replace("_", " ")
            if lemma.islower() and lemma.replace(" ", "").replace("-", "").isalpha() and len(lemma.split()) <= 3:
                found.add(lemma)
    return tuple(sorted(found))


@cache
def noun_lemmas(root: Path = WORDNET) -> frozenset[str]:
    """Every noun WordNet knows, lower-cased, words joined by spaces."""
    index = root / "index.noun"
    if not index.is_file():
        raise LexiconMissingError(f"WordNet's noun index is not in {root}: run {FIX}")
    return frozenset(line.split()[0].replace("_", " ").lower()
                     for line in index.read_text(encoding="latin-1").splitlines() if not line.startswith("  "))


def lexicon_wording(add_seeds: list[str], remove_seeds: list[str], depth: int, seed: int = 0,
                    root: Path = WORDNET) -> Wording:
    """Templates for every verb of either side, each in the plain frame and in one frame drawn from the rest; in
    `both`, beside a verb of the other side drawn at random."""
    add, remove = verbs(add_seeds, depth, root), verbs(remove_seeds, depth, root)
    add, remove = sorted(add - remove), sorted(remove - add)
    rng = np.random.default_rng(seed)

    def pick(options: list[str]) -> str:
        return options[rng.integers(len(options))]

    subjects = {"add": [(verb, "") for verb in add], "remove": [("", verb) for verb in remove],
                "both": [(verb, pick(remove)) for verb in add] + [(pick(add), verb) for verb in remove]}
    families = {"wordnet": {group: tuple(sorted({
        frame.format(add_verb=add_verb, remove_verb=remove_verb, add="{add}", remove="{remove}")
        for add_verb, remove_verb in subjects[group] for frame in (frames[0], frames[1 + rng.integers(len(frames) - 1)])
    })) for group, frames in FRAMES.items()}}
    return Wording(f"{LEXICON} (WordNet 3.0 verbs)", STYLE, families)


def known_wordnet(names, determiners) -> list[str]:
    """WordNet's `names`, in order, less those that begin with one of the tagger's `determiners` ("new world")."""
    determiners = set(determiners)
    return [name for name in names if name.split()[0] not in determiners]
