"""Configuration of the query tagger's recipe: `tagger` (see pipeline/config/)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from submission_src.tagger import QueryTagger


@dataclass(frozen=True)
class LexiconSeeds:
    """WordNet verb senses made into more templates (pipeline/data/lexicon.py)."""
    add: tuple[str, ...]
    remove: tuple[str, ...]
    depth: int  # hyponym levels below each seed


@dataclass(frozen=True)
class TaggerDevelopment:
    """`tagger_development`: what chooses the tagger's recipe, never trained on (so no edit here retrains it)."""
    SECTION: ClassVar[str] = "tagger_development"
    wordings: tuple[str, ...]  # wording files by other writers, scored while training
    names: str  # object names never trained on
    names_wording: str  # the free wording they are scored in (beside the rigid plain wording)


@dataclass(frozen=True)
class TaggerConfig:
    SECTION: ClassVar[str] = "tagger"
    corpus: tuple[str, ...]  # wording files
    lexicon: LexiconSeeds | None  # None: no WordNet verbs
    vocabulary: str  # YAML with open_vocabulary: nouns, adjectives
    open_vocabulary: float  # share of objects drawn from the open vocabulary instead of the catalog
    adjectives: float  # share of open-vocabulary objects with one or two adjectives ("a red vintage bicycle")
    wordnet_files: tuple[str, ...]  # WordNet noun files whose nouns are open-vocabulary names (none: no WordNet)
    wordnet_names: float  # share of open-vocabulary objects that are WordNet nouns
    compound_names: float  # share of open-vocabulary objects made up of two words ("lamp cage", "zorvex kettle")
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
    long_lists: float = 0.0  # share of edits whose lists run to six objects to add and five to remove (else 3, 2)

    def build(self, determiners: set[str] = frozenset()) -> QueryTagger:
        """An untrained tagger of this recipe's shape; `determiners`: the words its decoding keeps out of names,
        when the recipe strips them."""
        return QueryTagger(self.buckets, self.dim, self.hidden, self.layers, self.dropout, self.word_dropout,
                           determiners=tuple(determiners) if self.strip_determiners else ())
