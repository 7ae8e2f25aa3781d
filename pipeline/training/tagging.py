"""Training and scoring the query tagger on texts composed from the training wording files.

Every training text is drawn fresh: a wording file (weighted by its number of templates), a family, a template,
objects from the catalog or an open vocabulary ("a red vintage bicycle", so the tagger learns spans rather than
a catalog lookup), determiners, list joiners and case from the file's style, and now and then a typo in the
template's own words. The held-out wording is never read here.
"""
from __future__ import annotations

import logging
import re
import time
import zlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
import yaml
from tqdm import tqdm

from pipeline.config.tagger import TaggerConfig, TaggerDevelopment
from pipeline.data.catalog import load_catalog
from pipeline.data.lexicon import known_wordnet, lexicon_wording, nouns
from pipeline.data.phrasing import Phrase, Wording, compose, joined, load_wording, merged_style
from pipeline.training.schedule import one_cycle
from submission_src.tagger import TAGS, ParsedQuery, QueryTagger, split_words

log = logging.getLogger(__name__)
GROUP_WEIGHTS = {"add": 0.2, "remove": 0.2, "both": 0.5, "none": 0.1}
CONNECTORS = (". ", "; ", ", ", " and ", " then ", ", then ", ". Also ", "\n", " - ", "! ", " ")
_SLOT = re.compile(r"(\{[a-z_]+\})")
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_CONSONANTS, _VOWELS = "bdfgklmnprstvxz", "aeiou"


def corpus_wordings(config: TaggerConfig) -> list[Wording]:
    """The training wordings: the corpus files, and the WordNet verbs' templates where `lexicon` is set."""
    files = [load_wording(path) for path in config.corpus]
    if not config.lexicon:
        return files
    seeds = config.lexicon
    return files + [lexicon_wording(list(seeds.add), list(seeds.remove), seeds.depth, config.seed)]


def split_templates(wording: Wording, validation_share: float) -> tuple[Wording, Wording]:
    """(training, validation) wordings: a stable share of each family's templates, by hash, is held back."""
    def held_back(template: str) -> bool:
        return zlib.crc32(template.encode()) % 1000 < validation_share * 1000

    def keep(validation: bool) -> Wording:
        families = {name: {g: tuple(t for t in ts if held_back(t) == validation) for g, ts in groups.items()}
                    for name, groups in wording.families.items()}
        return replace(wording, families={n: {g: ts for g, ts in gs.items() if ts} for n, gs in families.items()})
    return keep(False), keep(True)


def typo(word: str, rng: np.random.Generator) -> str:
    """One keyboard slip: a letter dropped, doubled, swapped with the next, or replaced."""
    i = int(rng.integers(len(word) - 1))
    kind = rng.integers(4)
    if kind == 0:
        return word[:i] + word[i + 1:]
    if kind == 1:
        return word[:i] + word[i] + word[i:]
    if kind == 2:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    return word[:i] + _LETTERS[rng.integers(26)] + word[i + 1:]


def misspell_template(template: str, rng: np.random.Generator) -> str:
    """The template with one of its own words (never a slot) misspelt."""
    parts = _SLOT.split(template)
    candidates = [(i, m) for i, part in enumerate(parts) if not _SLOT.fullmatch(part)
                  for m in re.finditer(r"[A-Za-z]{3,}", part)]
    if not candidates:
        return template
    i, match = candidates[rng.integers(len(candidates))]
    part = parts[i]
    parts[i] = part[: match.start()] + typo(match.group(), rng) + part[match.end():]
    return "".join(parts)


def determiner_words(wordings: list[Wording]) -> set[str]:
    style = merged_style([w.style for w in wordings])
    return {word.lower() for d in style.add_determiners + style.remove_determiners for word in d.split()}


def template_words(wordings: list[Wording]) -> set[str]:
    """The words templates say besides their slots ("scene", "table", "picture")."""
    return {word for wording in wordings for _, _, template in wording.templates()
            for word in re.findall(r"[a-z]+", _SLOT.sub(" ", template.lower()))}


def pointing_words(wordings: list[Wording], names: "ObjectNames") -> set[str]:
    """Determiner words of the wordings that no object name could start with (catalog names, the open
    vocabulary's nouns and adjectives): what decoding may strip from the front of a name."""
    starts = {name.split()[0].lower() for name in [*names.catalog, *names.nouns]} | {a.lower() for a in
                                                                                    names.adjectives}
    return determiner_words(wordings) - starts


def open_vocabulary(path: str) -> dict:
    """A wording file's `open_vocabulary`: nouns and adjectives."""
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))["open_vocabulary"]


class ObjectNames:
    """Distinct object names: a team's names (a `team_share` of them, when it has any), catalog names, or
    open-vocabulary names. An open name is a vocabulary noun with up to two adjectives, a WordNet noun (a `wordnet`
    share: any made thing, dish, plant or animal, multi-word ones included), or a compound no dictionary holds (a
    `compounds` share: a WordNet noun or a made-up brand-like word before a WordNet noun, "lamp cage", "zorvex
    kettle"), so that spans are learnt from context, not looked up."""

    def __init__(self, nouns: list[str] = (), adjectives: list[str] = (), open_share: float = 0.0,
                 adjective_share: float = 0.0, wordnet: list[str] = (), wordnet_share: float = 0.0,
                 compound_share: float = 0.0, team: list[str] = (), team_share: float = 0.0):
        self.catalog = [o.name for o in load_catalog()]
        self.team, self.team_share = list(team), team_share
        self.nouns, self.adjectives, self.open_share = list(nouns), list(adjectives), open_share
        self.adjective_share = adjective_share
        self.wordnet, self.wordnet_share, self.compound_share = list(wordnet), wordnet_share, compound_share
        self.heads = [n for n in self.wordnet if " " not in n]

    @classmethod
    def from_config(cls, config: TaggerConfig, determiners: set[str] = frozenset(),
                    template_words: set[str] = frozenset(), team: list[str] = (),
                    team_share: float = 0.0) -> "ObjectNames":
        """The recipe's names. Adjectives that are also words of a determiner ("a new", "the big"), WordNet nouns
        that start with one, and one-word WordNet nouns that are words of a template ("scene", "picture"), are
        left out: a word is either part of how a text points at and speaks of objects, or part of a name."""
        vocabulary = open_vocabulary(config.vocabulary)
        adjectives = [a for a in vocabulary["adjectives"] if a.lower() not in determiners]
        wordnet = [n for n in known_wordnet(nouns(config.wordnet_files), determiners)
                   if n not in template_words] if config.wordnet_files else []
        return cls(vocabulary["nouns"], adjectives, config.open_vocabulary, config.adjectives, wordnet,
                   config.wordnet_names, config.compound_names, team, team_share)

    def one(self, rng: np.random.Generator) -> str:
        if self.team and rng.random() < self.team_share:
            return self.team[rng.integers(len(self.team))]
        if rng.random() >= self.open_share:
            return self.catalog[rng.integers(len(self.catalog))]
        kind = rng.random()
        if kind < self.wordnet_share:
            return self.wordnet[rng.integers(len(self.wordnet))]
        if kind < self.wordnet_share + self.compound_share:
            modifier = made_up_word(rng) if rng.random() < 0.3 else self.heads[rng.integers(len(self.heads))]
            return f"{modifier} {self.heads[rng.integers(len(self.heads))]}"
        noun = self.nouns[rng.integers(len(self.nouns))]
        count = 0 if rng.random() >= self.adjective_share else 1 + int(rng.random() < 1 / 3)
        return " ".join([*rng.choice(self.adjectives, size=count, replace=False), noun])

    def distinct(self, count: int, rng: np.random.Generator) -> list[str]:
        names: list[str] = []
        while len(names) < count:
            name = self.one(rng)
            if all(name not in n and n not in name for n in names):
                names.append(name)
        return names


def made_up_word(rng: np.random.Generator) -> str:
    """A pronounceable word no dictionary holds, as brand names are made: two or three consonant-vowel syllables."""
    syllables = "".join(_CONSONANTS[rng.integers(len(_CONSONANTS))] + _VOWELS[rng.integers(len(_VOWELS))]
                        for _ in range(2 + rng.integers(2)))
    return syllables + _CONSONANTS[rng.integers(len(_CONSONANTS))] * int(rng.random() < 0.5)


class TaggingCorpus:
    """Draws labelled texts from wording files.

    Beyond each file's own texts: a share of texts mixes the style (determiners, joiners, cases) of every file,
    a share is told in two parts, an edit and another edit or a remark, joined by a connector, so that no
    sentence shape of a single writer is all the tagger sees, and a share of edits lists up to six objects, so
    that no list is too long to end where it ends.
    """

    def __init__(self, wordings: list[Wording], names: ObjectNames, typo_rate: float, mix_styles: float = 0.0,
                 two_part: float = 0.0, long_lists: float = 0.0):
        self.wordings, self.names, self.typo_rate = wordings, names, typo_rate
        self.mix_styles, self.two_part, self.long_lists = mix_styles, two_part, long_lists
        sizes = np.array([sum(1 for _ in w.templates()) for w in wordings], dtype=float)
        self.weights = sizes / sizes.sum()
        self.style = merged_style([w.style for w in wordings])

    def sample(self, rng: np.random.Generator) -> Phrase:
        if rng.random() >= self.two_part:
            return self._one(rng, rng.choice(list(GROUP_WEIGHTS), p=list(GROUP_WEIGHTS.values())))
        first_group, second_group = [("add", "remove"), ("remove", "add"), ("both", "none"), ("none", "both"),
                                     ("add", "none"), ("remove", "none")][rng.integers(6)]
        first = self._one(rng, first_group)
        taken = {n.lower() for n in first.objects("add") + first.objects("remove")}
        while True:
            second = self._one(rng, second_group)
            if not taken & {n.lower() for n in second.objects("add") + second.objects("remove")}:
                return joined(first, CONNECTORS[rng.integers(len(CONNECTORS))], second)

    def _one(self, rng: np.random.Generator, group: str) -> Phrase:
        while True:
            wording = self.wordings[rng.choice(len(self.wordings), p=self.weights)]
            most_add, most_remove = (6, 5) if self.long_lists and rng.random() < self.long_lists else (3, 2)
            n_add = int(rng.integers(1, most_add + 1)) if group in ("add", "both") else 0
            n_remove = int(rng.integers(1, most_remove + 1)) if group in ("remove", "both") else 0
            names = self.names.distinct(n_add + n_remove + 1, rng)
            add, remove, keep = names[:n_add], names[n_add: n_add + n_remove], names[-1]
            if wording.eligible(group, add, remove, keep):
                break
        family, template = wording.choose(group, add, remove, keep, rng)
        if rng.random() < self.typo_rate:
            template = misspell_template(template, rng)
        style = self.style if rng.random() < self.mix_styles else wording.style
        return compose(template, add, remove, keep, style, rng, family)


def word_tags(phrase: Phrase, max_words: int) -> list[int]:
    """The gold tag of each word of the phrase's text: B/I inside an object's span, O elsewhere."""
    tags = []
    for start, end in split_words(phrase.text.lower(), max_words):
        span = next((s for s in phrase.spans if s.start <= start and end <= s.end), None)
        tags.append(0 if span is None else TAGS.index(("B-" if start == span.start else "I-") + span.role))
    return tags


def tagging_loss(tagger: QueryTagger, phrases: list[Phrase]) -> torch.Tensor:
    texts = [p.text for p in phrases]
    words = tagger.words(texts)
    logits = tagger(texts, words)
    gold = torch.full(logits.shape[:2], -100, dtype=torch.long)
    for i, phrase in enumerate(phrases):
        tags = word_tags(phrase, tagger.config["max_words"])
        gold[i, : len(tags)] = torch.tensor(tags, dtype=torch.long)
    return F.cross_entropy(logits.flatten(0, 1), gold.flatten(), ignore_index=-100)


def _folded(name: str) -> str:
    return " ".join(name.lower().split())


def gold_parse(phrase: Phrase) -> ParsedQuery:
    return ParsedQuery([_folded(n) for n in phrase.objects("add")], [_folded(n) for n in phrase.objects("remove")])


def gold_objects(phrase: Phrase) -> dict[str, list[tuple[str, str]]]:
    """Role -> (name, name with the determiner it was written with), for `score_parses`."""
    return {role: [(_folded(n), _folded(d)) for n, d in zip(phrase.objects(role), phrase.objects(role, True))]
            for role in ("add", "remove")}


def _names_object(predicted: str, name: str, with_determiner: str) -> bool:
    """`predicted` is `name`, preceded by nothing but the last words of its determiner."""
    return predicted.endswith(name) and (with_determiner == predicted or with_determiner.endswith(" " + predicted))


def score_parses(predicted: list[ParsedQuery], gold: list[dict[str, list[tuple[str, str]]]]) -> dict:
    """Exact parse rate (both object lists right, order aside) and object precision, recall and F1.

    `gold`: `gold_objects` of each text. An object counts as found when the predicted name is the gold name, or
    the gold name with some or all of the determiner it was written with ("existing goose", "a big koala":
    whether such words belong to the name is the writer's call, and both name the same object);
    `exact_strict` allows the name alone.
    """
    exact, strict, hits, n_predicted, n_gold = [], [], 0, 0, 0
    for p, objects in zip(predicted, gold):
        right, right_strictly = True, True
        for role in ("add", "remove"):
            pending, unmatched = [(_folded(n), _folded(d)) for n, d in objects[role]], 0
            for name in getattr(p, role):
                match = next((g for g in pending if _names_object(_folded(name), *g)), None)
                if match is None:
                    unmatched += 1
                    continue
                pending.remove(match)
                hits += 1
                right_strictly &= _folded(name) == match[0]
            n_predicted, n_gold = n_predicted + len(getattr(p, role)), n_gold + len(objects[role])
            right &= not pending and not unmatched
        exact.append(right)
        strict.append(right and right_strictly)
    precision, recall = hits / max(n_predicted, 1), hits / max(n_gold, 1)
    return {"exact": float(np.mean(exact)) if exact else float("nan"),
            "exact_strict": float(np.mean(strict)) if strict else float("nan"), "precision": precision,
            "recall": recall, "f1": 2 * precision * recall / max(precision + recall, 1e-9), "n": len(exact)}


def train_tagger(config: TaggerConfig, checks: dict[str, list[Phrase]], log_every: int = 100,
                 on_check: Callable[[dict], None] | None = None) -> tuple[QueryTagger, list[dict]]:
    """A tagger trained on freshly drawn texts of the training templates; history holds its scores on `checks`
    (name -> labelled texts never trained on), every `log_every` steps, each row also given to `on_check`."""
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    training, names = training_names(config)
    tagger = config.build(pointing_words(training, names))
    history = fit(tagger, training_corpus(config, training, names), config.steps, config.lr, config.batch_size, rng,
                  checks, log_every, on_check, "train_tagger")
    return tagger.eval(), history


def adapt_tagger(saved: dict, config: TaggerConfig, team: list[str], steps: int, team_share: float,
                 lr: float) -> QueryTagger:
    """The saved tagger trained `steps` more on texts of its training wording, a `team_share` of whose objects are
    the team's names (`team`), so that spans of the names a team's data holds are learnt, not only completed."""
    tagger = QueryTagger.from_saved(saved).float()
    if steps and team:
        torch.manual_seed(config.seed)
        training, names = training_names(config, team, team_share)
        fit(tagger, training_corpus(config, training, names), steps, lr, config.batch_size,
            np.random.default_rng([config.seed, 2]), desc="adapt_tagger")
    return tagger.eval()


def training_names(config: TaggerConfig, team: list[str] = (),
                   team_share: float = 0.0) -> tuple[list[Wording], ObjectNames]:
    """The training templates (validation's held back) and the names they are filled with."""
    training = [split_templates(wording, config.validation_share)[0] for wording in corpus_wordings(config)]
    return training, ObjectNames.from_config(config, determiner_words(training), template_words(training), team,
                                             team_share)


def training_corpus(config: TaggerConfig, training: list[Wording], names: ObjectNames) -> "TaggingCorpus":
    return TaggingCorpus(training, names, config.typo_rate, config.mix_styles, config.two_part, config.long_lists)


def fit(tagger: QueryTagger, corpus: "TaggingCorpus", steps: int, lr: float, batch_size: int,
        rng: np.random.Generator, checks: dict[str, list[Phrase]] | None = None, log_every: int = 100,
        on_check: Callable[[dict], None] | None = None, desc: str = "tagger") -> list[dict]:
    """Trains `tagger` in place for `steps` batches of fresh corpus texts under one cycle to `lr`; returns its
    scores on `checks` every `log_every` steps (each row also given to `on_check`)."""
    optimizer = torch.optim.AdamW(tagger.parameters(), lr=lr, weight_decay=0.01)
    scheduler = one_cycle(optimizer, lr, steps, pct_start=0.05)
    history, losses, started = [], [], time.time()
    for step in tqdm(range(1, steps + 1), desc=desc, unit="step"):
        tagger.train()
        loss = tagging_loss(tagger, [corpus.sample(rng) for _ in range(batch_size)])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(tagger.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        if step % log_every == 0 or step == steps:
            tagger.eval()
            row = {"step": step, "loss": float(np.mean(losses)), "seconds": time.time() - started}
            for name, phrases in (checks or {}).items():
                scores = score_parses(tagger.parse([p.text for p in phrases]), [gold_objects(p) for p in phrases])
                row |= {f"{name}_exact": scores["exact"], f"{name}_f1": scores["f1"]}
            history.append(row)
            losses = []
            log.info("step %d: %s", step, ", ".join(f"{k} {v:.3f}" for k, v in row.items() if k != "step"))
            if on_check:
                on_check(row)
    return history


def dev_phrases(development: TaggerDevelopment, seed: int, fills: int = 3) -> dict[str, list[Phrase]]:
    """File name -> every template of that development wording, filled with catalog objects."""
    return {Path(path).stem: template_phrases(load_wording(path), ObjectNames(), fills, seed=seed)
            for path in development.wordings}


def validation_phrases(config: TaggerConfig, count: int) -> list[Phrase]:
    """Texts of the templates held back from training (unseen templates of the training wording files)."""
    held = [split_templates(wording, config.validation_share)[1] for wording in corpus_wordings(config)]
    held = [w for w in held if w.families]
    names = ObjectNames.from_config(config, determiner_words(held), template_words(held))
    corpus = TaggingCorpus(held, names, typo_rate=0.0)
    rng = np.random.default_rng([config.seed, 1])
    return [corpus.sample(rng) for _ in range(count)]


def template_phrases(wording: Wording, names: ObjectNames, fills: int, seed: int) -> list[Phrase]:
    """Every template of `wording` filled `fills` times (1–3 objects to add, 1–2 to remove, as the splits do)."""
    rng = np.random.default_rng(seed)
    phrases = []
    for family, group, template in wording.templates():
        for _ in range(fills):
            while True:
                n_add = int(rng.integers(1, 4)) if group in ("add", "both") else 0
                n_remove = int(rng.integers(1, 3)) if group in ("remove", "both") else 0
                chosen = names.distinct(n_add + n_remove + 1, rng)
                add, remove, keep = chosen[:n_add], chosen[n_add: n_add + n_remove], chosen[-1]
                if template in wording.eligible(group, add, remove, keep).get(family, ()):
                    break
            phrases.append(compose(template, add, remove, keep, wording.style, rng, family))
    return phrases


def scored_phrases(tagger: QueryTagger, phrases: list[Phrase]) -> tuple[dict, list[ParsedQuery]]:
    """The tagger's scores on labelled texts, with a template-bootstrap interval of the name-alone exact rate (the
    figure that matters for retrieval: the text tower embeds the name), and its parses."""
    predicted = tagger.parse([p.text for p in phrases])
    gold = [gold_objects(p) for p in phrases]
    strict = [score_parses([q], [g])["exact_strict"] for q, g in zip(predicted, gold)]
    return ({**score_parses(predicted, gold),
             "exact_strict_ci": template_interval(np.array(strict), np.array([p.template for p in phrases]))},
            predicted)


def template_interval(hits: np.ndarray, templates: np.ndarray, draws: int = 2000, seed: int = 0,
                      level: float = 0.95) -> tuple[float, float]:
    """A bootstrap confidence interval of the mean of `hits` (one 0/1 per text) that resamples whole templates:
    the texts of one template rise and fall together, so resampling texts would claim too narrow an interval."""
    groups = pd.Series(np.asarray(hits, dtype=float)).groupby(np.asarray(templates))
    sums, counts = groups.sum().to_numpy(), groups.count().to_numpy()
    picks = np.random.default_rng(seed).integers(len(sums), size=(draws, len(sums)))
    means = sums[picks].sum(axis=1) / counts[picks].sum(axis=1)
    return float(np.quantile(means, (1 - level) / 2)), float(np.quantile(means, (1 + level) / 2))
