"""Configuration of the query tagger's recipe: `tagger` (pipeline/config/__init__.py says why here)."""
from __future__ import annotations

from dataclasses import dataclass

from submission_src.tagger import QueryTagger


@dataclass(frozen=True)
class TaggerConfig:
    corpus: tuple[str, ...]  # wording files
    lexicon: dict | None  # WordNet verb seeds (add, remove, depth) made into more templates; None: none
    dev: tuple[str, ...]  # wording files by other writers, scored while training to choose the recipe
    vocabulary: str  # YAML with open_vocabulary: nouns, adjectives
    open_vocabulary: float  # share of objects drawn from the open vocabulary instead of the catalog
    adjectives: float  # share of open-vocabulary objects with one or two adjectives ("a red vintage bicycle")
    typo_rate: float  # share of texts with one typo in a template word
    mix_styles: float  # share of texts in the merged style of all wording files
    two_part: float  # share of texts told in two parts
    validation_share: float  # share of each family's templates kept for validation
    steps: int
    batch_size: int
    lr: float
    buckets: int
    dim: int
    hidden: int
    layers: int
    dropout: float
    word_dropout: float
    strip_determiners: bool  # decoding strips the training wordings' determiner words from the front of names
    seed: int

    @classmethod
    def from_params(cls, p: dict) -> "TaggerConfig":
        return cls(corpus=tuple(p["corpus"]), lexicon=p.get("lexicon"), dev=tuple(p["dev"]), vocabulary=p["vocabulary"],
                   open_vocabulary=float(p["open_vocabulary"]), adjectives=float(p["adjectives"]),
                   typo_rate=float(p["typo_rate"]), mix_styles=float(p["mix_styles"]), two_part=float(p["two_part"]),
                   validation_share=float(p["validation_share"]), steps=int(p["steps"]),
                   batch_size=int(p["batch_size"]), lr=float(p["lr"]),
                   buckets=int(p["buckets"]), dim=int(p["dim"]), hidden=int(p["hidden"]), layers=int(p["layers"]),
                   dropout=float(p["dropout"]), word_dropout=float(p["word_dropout"]),
                   strip_determiners=bool(p["strip_determiners"]), seed=int(p["seed"]))

    def build(self, determiners: set[str] = frozenset()) -> QueryTagger:
        """An untrained tagger of this recipe's shape; `determiners`: the words its decoding keeps out of names,
        when the recipe strips them."""
        return QueryTagger(self.buckets, self.dim, self.hidden, self.layers, self.dropout, self.word_dropout,
                           determiners=tuple(determiners) if self.strip_determiners else ())
