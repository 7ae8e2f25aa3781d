"""Edit algebra on the training graph: more training pairs from the images a split already has.

A triplet (A, +X −Y, B) says that A holds Y and lacks X, and that B holds X and lacks Y. It also teaches its
reverse (B, +Y −X, A). Two edits that meet at an image compose into a pair between their other ends (A→B and A→C
give B→C; A→T and B→T give A→B): along the path the object lists add up as multisets, and an object added and
removed cancels. A composed pair that changes nothing, removes what its reference is known to lack, adds what it
is known to hold, or contradicts what is known of its target, is skipped.

Every image of a new pair is in the feature cache already, so a pair costs no backbone pass: only its new text is
embedded, once, when the query set is built. Only a training split is augmented; val and test never are.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from pipeline.config.augment import AugmentConfig
from pipeline.data.phrasing import PLAIN_WORDING, Wording, WordingError, load_wording, slot_group
from pipeline.training.retriever import QuerySet
from submission_src.phrases import phrase_sums
from submission_src.tagger import ParsedQuery

KINDS = ("original", "reverse", "compose")


@dataclass(frozen=True)
class Edit:
    """A training pair between two images: the objects that `target` adds to `reference` and takes away."""

    reference: str
    target: str
    add: tuple[str, ...]
    remove: tuple[str, ...]
    kind: str = "original"

    def inverse(self) -> "Edit":
        return Edit(self.target, self.reference, self.remove, self.add, "reverse")

    def then(self, other: "Edit") -> "Edit":
        """This edit followed by `other` (which starts where this one ends), objects cancelled."""
        add, remove = Counter(self.add) + Counter(other.add), Counter(self.remove) + Counter(other.remove)
        add, remove = add - remove, remove - add  # an object added on one leg and removed on the other cancels
        return Edit(self.reference, other.target, tuple(sorted(add.elements())), tuple(sorted(remove.elements())),
                    "compose")


class EditGraph:
    """The triplets of one split as a graph of images; what each image is known to hold and to lack."""

    def __init__(self, edits: list[Edit]):
        self.edits = edits
        self.holds: dict[str, set[str]] = defaultdict(set)
        self.lacks: dict[str, set[str]] = defaultdict(set)
        for edit in edits:
            self.holds[edit.reference].update(edit.remove)
            self.lacks[edit.reference].update(edit.add)
            self.holds[edit.target].update(edit.add)
            self.lacks[edit.target].update(edit.remove)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> "EditGraph":
        """From a query table with parsed `add`/`remove` lists (QuerySet.frame)."""
        return cls([Edit(r.query_image, r.target_image, tuple(r.add), tuple(r.remove))
                    for r in frame.itertuples()])

    def consistent(self, edit: Edit) -> bool:
        """The edit asks for a change, and nothing known of its two images contradicts it."""
        add, remove = set(edit.add), set(edit.remove)
        return (edit.reference != edit.target and bool(add | remove)
                and not add & (self.holds[edit.reference] | self.lacks[edit.target])
                and not remove & (self.lacks[edit.reference] | self.holds[edit.target]))

    def reverses(self) -> list[Edit]:
        """Each triplet's inverse, where the triplet names a change (an empty parse teaches nothing backwards)."""
        return [edit.inverse() for edit in self.edits if self.consistent(edit.inverse())]

    def compositions(self, per_triplet: int, rng: np.random.Generator) -> list[Edit]:
        """Up to `per_triplet` composed pairs for each triplet, as its first leg (forwards or backwards) followed
        by any other edge at its far end; no pair twice, none between two images a triplet already joins."""
        both_ways = [*self.edits, *self.reverses()]
        leaving = defaultdict(list)
        for edge in both_ways:
            leaving[edge.reference].append(edge)
        taken = {(e.reference, e.target) for e in both_ways}
        composed = []
        for edit in self.edits:
            candidates = [first.then(second) for first in (edit, edit.inverse()) for second in leaving[first.target]
                          if second.target != first.reference]
            candidates = [c for c in candidates if (c.reference, c.target) not in taken and self.consistent(c)]
            chosen = 0
            for i in rng.permutation(len(candidates)):
                pair = candidates[i]
                if chosen == per_triplet:
                    break
                if (pair.reference, pair.target) not in taken:
                    taken.add((pair.reference, pair.target))
                    composed.append(pair)
                    chosen += 1
        return composed

    def augmented(self, config: AugmentConfig) -> list[Edit]:
        """The triplets, then their reverses and compositions as the config asks (deterministic for its seed)."""
        rng = np.random.default_rng(config.seed)
        return [*self.edits, *(self.reverses() if config.reverse else []),
                *(self.compositions(config.compose, rng) if config.compose else [])]


class Rewording:
    """Texts for edits: the plain wording ("add X and remove Y") or, for a share of them, a template drawn from
    the tagger's training wording files."""

    def __init__(self, varied_files: list[str], share: float, seed: int):
        self.plain = load_wording(PLAIN_WORDING)
        self.varied = [load_wording(path) for path in varied_files]
        self.share = share
        self.rng = np.random.default_rng([seed, 1])

    def vary(self) -> bool:
        return self.rng.random() < self.share

    def plain_text(self, edit: Edit) -> str:
        return self.plain.sample(list(edit.add), list(edit.remove), self.rng).text

    def varied_text(self, edit: Edit, keep: str | None) -> str:
        group = slot_group(edit.add, edit.remove)
        files = [w for w in self.varied if w.eligible(group, edit.add, edit.remove, keep)]
        if not files:
            raise WordingError(f"no training wording file has a {group!r} template for {edit}")
        wording: Wording = files[self.rng.integers(len(files))]
        return wording.sample(list(edit.add), list(edit.remove), self.rng, keep=keep).text


def augment_queries(queries: QuerySet, config: AugmentConfig, wording_files: list[str],
                    encode_text: Callable[[list[str]], torch.Tensor]) -> QuerySet:
    """The training queries with the new pairs appended (`kind` says which is which) and, for the config's share
    of all of them, texts reworded; the config off gives `queries` back untouched."""
    if config.off:
        return queries
    graph = EditGraph.from_frame(queries.frame)
    edits = graph.augmented(config)
    rewording = Rewording(wording_files, config.varied_wording, config.seed)
    texts = list(queries.frame.query_text)
    for edit in edits[len(queries.frame):]:
        texts.append(rewording.plain_text(edit))
    varied = np.array([rewording.vary() for _ in edits])
    for i in np.flatnonzero(varied):
        kept = sorted(graph.holds[edits[i].reference] - set(edits[i].remove))
        texts[i] = rewording.varied_text(edits[i], kept[rewording.rng.integers(len(kept))] if kept else None)

    rows = dict(zip(queries.frame.query_image, queries.frame.reference_row))
    rows.update(zip(queries.frame.target_image, queries.frame.target_row))
    frame = pd.DataFrame({"query_image": [e.reference for e in edits], "query_text": texts,
                          "target_image": [e.target for e in edits], "add": [list(e.add) for e in edits],
                          "remove": [list(e.remove) for e in edits],
                          "reference_row": [rows[e.reference] for e in edits],
                          "target_row": [rows[e.target] for e in edits],
                          "kind": [e.kind for e in edits], "reworded": varied})
    new = np.flatnonzero(varied | (np.arange(len(edits)) >= len(queries.frame)))
    text_embeddings = torch.cat([queries.texts, queries.texts.new_zeros(len(edits) - len(queries.frame),
                                                                         queries.texts.shape[1])])
    if len(new):
        with torch.no_grad():
            text_embeddings[new] = torch.cat([encode_text([texts[i] for i in new[s: s + 512]]).float().cpu()
                                              for s in range(0, len(new), 512)])
    extra = [ParsedQuery(list(e.add), list(e.remove)) for e in edits[len(queries.frame):]]
    add, remove = (phrase_sums(extra, encode_text, queries.add.shape[1]) if extra
                   else (queries.add[:0], queries.remove[:0]))
    return QuerySet(frame, text_embeddings, torch.cat([queries.add, add.cpu()]),
                    torch.cat([queries.remove, remove.cpu()]), frame.target_row.to_numpy())
