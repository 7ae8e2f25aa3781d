"""What a wrong parse got wrong, read from its gold and predicted objects: the tagger's evaluation counts these per
development wording, and the app's Queries tab filters by them (a Space copies this file: it imports nothing)."""
from __future__ import annotations

from typing import Protocol


class Parse(Protocol):
    add: list[str]
    remove: list[str]


ERROR_CLASSES = {  # what a wrong parse got wrong, read from its gold and predicted objects
    "name_cut_short": "a name given as some of its words ('bird' for 'bird cage')",
    "name_overrun": "a name with words that are not part of it ('lamp fade' for 'lamp')",
    "name_split": "one name given as two or more ('couch', 'lamp' for 'couch and lamp')",
    "wrong_role": "an object to add given as one to remove, or the other way",
    "missed_object": "an object asked for and not given at all (a list's last item, a pronoun's object)",
    "spurious_object": "an object given that the text does not ask for ('table', 'a breeze')",
}


def error_classes(gold: Parse, predicted: Parse) -> list[str]:
    """The classes of a parse's errors (ERROR_CLASSES), each once; none for an exact parse (the name alone)."""
    inside = lambda part, whole: f" {part} " in f" {whole} " and part != whole  # noqa: E731
    found = set()
    for role, other in (("add", "remove"), ("remove", "add")):
        wanted, given = list(getattr(gold, role)), list(getattr(predicted, role))
        for name in [n for n in given if n in wanted]:
            wanted.remove(name)
            given.remove(name)
        for whole in list(wanted):
            if pieces := [g for g in given if inside(g, whole)]:
                found.add("name_split" if len(pieces) > 1 else "name_cut_short")
            elif longer := [g for g in given if inside(whole, g)]:
                pieces = longer[:1]
                found.add("name_overrun")
            else:
                continue
            wanted.remove(whole)
            for piece in pieces:
                given.remove(piece)
        found.update("wrong_role" if name in getattr(predicted, other) else "missed_object" for name in wanted)
        found.update("spurious_object" for name in given if name not in getattr(gold, other))
    return sorted(found)
