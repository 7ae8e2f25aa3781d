"""The query tagger: modification text -> objects to add, objects to remove. A small learned sequence tagger (no
LLM): each word is tagged B/I of an object to add or to remove, or O. Two word lists are saved with it: the
determiner words of its training wordings ("a", "one more", "each"), with which a name never starts, and the names
it knows (the catalog's, WordNet's made things and foods, a team's own), by which a name the tags cut short is made
whole ("bird" -> "bird cage" when the text goes on with "cage")."""
from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import nn

TAGS = ("O", "B-add", "I-add", "B-remove", "I-remove")
_WORD = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*|[^\w\s]")


@dataclass
class ParsedQuery:
    add: list[str]
    remove: list[str]


@lru_cache(maxsize=1 << 17)
def word_ngrams(word: str, buckets: int, min_n: int = 3, max_n: int = 5) -> tuple[int, ...]:
    """Hashed character n-grams of `<word>` and the whole word (fastText style): no vocabulary, so a misspelt or
    unseen word still shares most of its features with the words it resembles. crc32: stable across processes."""
    marked = f"<{word}>"
    grams = {marked} | {marked[i: i + n] for n in range(min_n, max_n + 1) for i in range(len(marked) - n + 1)}
    return tuple(sorted(zlib.crc32(g.encode()) % buckets for g in grams))


def split_words(text: str, max_words: int) -> list[tuple[int, int]]:
    """Character ranges of the words and punctuation marks of `text` (at most `max_words`)."""
    return [m.span() for _, m in zip(range(max_words), _WORD.finditer(text))]


class QueryTagger(nn.Module):
    """Tags each word of a modification text as part of an object to add, to remove, or neither.

    Words are bags of hashed character n-grams, read in context by a bidirectional LSTM; objects are the B/I runs
    of one role. Args:
        buckets: hash buckets of the n-gram embedding table.
        dim: n-gram embedding width.
        hidden: LSTM width per direction.
        layers: LSTM layers.
        dropout: dropout between LSTM layers.
        word_dropout: share of words blanked while training.
        max_words: longer texts are cut there (a 10 000-character text costs what 128 words cost).
        determiners: words that point at an object rather than name it; decoding strips them from the front of a
            name and drops an object made of nothing else ("single dragon" -> "dragon", "each" -> none).
        names: names it knows; decoding carries an object on over the untagged words that follow it while they
            complete the longest known name starting where it starts.
    """

    def __init__(self, buckets: int = 1 << 16, dim: int = 64, hidden: int = 128, layers: int = 2,
                 dropout: float = 0.1, word_dropout: float = 0.0, max_words: int = 128,
                 determiners: tuple[str, ...] = (), names: tuple[str, ...] = ()):
        super().__init__()
        self.config = {"buckets": buckets, "dim": dim, "hidden": hidden, "layers": layers, "dropout": dropout,
                       "word_dropout": word_dropout, "max_words": max_words, "determiners": sorted(determiners)}
        if names:  # a tagger saved before names were known reads the same
            self.config["names"] = sorted(set(names))
        self.determiners = frozenset(determiners)
        self.names = KnownNames(names)
        self.embed = nn.EmbeddingBag(buckets, dim, mode="mean")
        self.encoder = nn.LSTM(dim, hidden, layers, batch_first=True, bidirectional=True,
                               dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Linear(2 * hidden, len(TAGS))

    def words(self, texts: list[str]) -> list[list[tuple[int, int]]]:
        return [split_words(t.lower() if isinstance(t, str) else "", self.config["max_words"]) for t in texts]

    def forward(self, texts: list[str], words: list[list[tuple[int, int]]] | None = None) -> torch.Tensor:
        """Tag logits [B, T, len(TAGS)] (T: the longest text's word count, at least 1)."""
        words = self.words(texts) if words is None else words
        device = self.head.weight.device
        ids, offsets = [], []
        for text, ranges in zip(texts, words):
            lowered = text.lower()
            for a, b in ranges:
                offsets.append(len(ids))
                ids.extend(word_ngrams(lowered[a:b], self.config["buckets"]))
        if not offsets:
            return self.head.weight.new_zeros(len(texts), 1, len(TAGS))
        vectors = self.embed(torch.tensor(ids, device=device), torch.tensor(offsets, device=device))
        if self.training and self.config["word_dropout"]:  # blank whole words: learn to read them from context
            vectors = vectors * (torch.rand(len(vectors), 1, device=device) >= self.config["word_dropout"])
        padded = nn.utils.rnn.pad_sequence(vectors.split([len(w) for w in words]), batch_first=True)
        lengths = torch.tensor([max(1, len(w)) for w in words])  # a text without words reads one zero vector
        packed = nn.utils.rnn.pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False)
        encoded, _ = nn.utils.rnn.pad_packed_sequence(self.encoder(packed)[0], batch_first=True)
        return self.head(encoded)

    @torch.no_grad()
    def parse(self, texts: list, batch_size: int = 256) -> list[ParsedQuery]:
        """The objects each text asks to add and to remove (lower case, as written). Anything that is not a
        string, or says nothing, gives empty lists."""
        texts = [t if isinstance(t, str) else "" for t in texts]
        parsed = []
        for start in range(0, len(texts), batch_size):
            batch = texts[start: start + batch_size]
            words = self.words(batch)
            tags = consistent_tags(self(batch, words), [len(w) for w in words]) if any(words) else [[] for _ in batch]
            parsed += [decode_tags(text, ranges, row, self.determiners, self.names)
                       for text, ranges, row in zip(batch, words, tags)]
        return parsed

    @classmethod
    def from_saved(cls, saved: dict) -> "QueryTagger":
        tagger = cls(**saved["config"])
        tagger.load_state_dict({k: v.float() for k, v in saved["state_dict"].items()})
        return tagger.eval()

    def saved(self) -> dict:
        return {"config": dict(self.config), "state_dict": self.state_dict()}

    def know(self, names) -> None:
        """Adds names decoding completes (a team's own objects): no weight changes."""
        self.config["names"] = sorted(set(self.config.get("names", ())) | {n.lower() for n in names})
        self.names = KnownNames(self.config["names"])


def _continues(previous: str | None, tag: str) -> bool:
    """Whether `tag` may follow `previous` (None: the text's first word): an I only continues its own role."""
    return not tag.startswith("I") or previous is not None and previous != "O" and previous[2:] == tag[2:]


_CONTINUES = torch.tensor([[0.0 if _continues(a, b) else -torch.inf for b in TAGS] for a in TAGS])
_STARTS = torch.tensor([0.0 if _continues(None, tag) else -torch.inf for tag in TAGS])


def consistent_tags(logits: torch.Tensor, lengths: list[int]) -> list[list[int]]:
    """The most likely tag row of each text (`logits` [B, T, len(TAGS)], `lengths` its words) in which every I
    continues an object of its role (Viterbi over the tags' log-probabilities): a word the argmax would tag
    I-remove after an add is read whole, as an add continued or a remove begun, whichever the text's other words
    make likelier. Rows keep length T; past a text's end they are free (O)."""
    scores = logits.float().log_softmax(-1).cpu()
    scores[torch.arange(scores.shape[1]) >= torch.tensor(lengths).unsqueeze(1)] = 0.0  # costs nothing: O is free
    best, back = scores[:, 0] + _STARTS, []
    for step in range(1, scores.shape[1]):
        paths = best.unsqueeze(2) + _CONTINUES  # [B, from, to]
        best, previous = paths.max(1)
        best = best + scores[:, step]
        back.append(previous)
    last = best.argmax(-1)
    rows = [last]
    for previous in reversed(back):
        last = previous.gather(1, last.unsqueeze(1)).squeeze(1)
        rows.append(last)
    return torch.stack(rows[::-1], 1).tolist()


class KnownNames:
    """Names as word sequences, by first word, longest first."""

    def __init__(self, names=()):
        self.by_first: dict[str, list[tuple[str, ...]]] = {}
        for name in {n.lower() for n in names}:
            words = tuple(m.group() for m in _WORD.finditer(name))
            if len(words) > 1:  # a one-word name is never cut short
                self.by_first.setdefault(words[0], []).append(words)
        for options in self.by_first.values():
            options.sort(key=len, reverse=True)

    def longest(self, words: list[str], start: int) -> int:
        """The length of the longest known name that `words` hold from `start` (0: none)."""
        return next((len(name) for name in self.by_first.get(words[start], ())
                     if tuple(words[start: start + len(name)]) == name), 0)

    def around(self, words: list[str], first: int, free: list[bool], reach: int = 2) -> tuple[int, int]:
        """(start, end) of the longest known name holding word `first` that starts there or up to `reach` words
        before it, over words `free` to join ("drafting" before a tagged "board"); (first, first): none."""
        best = (first, first)
        for start in range(max(0, first - reach), first + 1):
            if not all(free[start:first]):
                continue
            end = start + self.longest(words, start)
            if end > first and end - start > best[1] - best[0]:
                best = (start, end)
        return best


def decode_tags(text: str, words: list[tuple[int, int]], tags: list[int],
                determiners: frozenset[str] = frozenset(), names: KnownNames = KnownNames()) -> ParsedQuery:
    """Objects from word tags: a B starts one, an I continues one of its role (or starts one after O); leading
    `determiners` are no part of a name unless a known name begins with them, nor are symbols at its edges, and an
    object of determiners or symbols alone is none; an object whose words sit inside a longer known name grows to
    it over the words that complete it, untagged or of its own role ("couch and lamp" is one object where it is a
    known name, however the tags split it; "moon with face" is "new moon with face" where that is one)."""
    parsed, lowered = ParsedQuery([], []), text.lower()
    count = min(len(words), len(tags))  # a batch's tag rows run on past a shorter text's words
    tokens = [lowered[a:b] for a, b in words[:count]]
    labels = [TAGS[tag] for tag in tags[:count]]
    spans: list[list] = []  # [role, first word, one past the last word]
    for i, label in enumerate(labels):
        role = label[2:] if label != "O" else None
        if spans and role == spans[-1][0] and label.startswith("I") and spans[-1][2] == i:
            spans[-1][2] = i + 1
        elif role:
            spans.append([role, i, i + 1])
    free = [label == "O" and token[0].isalnum() for label, token in zip(labels, tokens)]
    named_until = 0  # where the last known name ended: a span inside it is part of it
    for role, first, end in spans:
        # a determiner word that begins a known name covering the span is the name's ("new moon with face")
        while first < end and tokens[first] in determiners and names.longest(tokens, first) < end - first:
            first += 1
        while first < end and not tokens[end - 1][0].isalnum():  # a name never ends in a symbol ("lion ⟶")
            end -= 1
        while first < end and not tokens[first][0].isalnum():
            first += 1
        if first == end or first < named_until:
            continue
        start, whole = names.around(tokens, first, free)
        if start < first:
            first = start
        if all(label in ("O", f"B-{role}", f"I-{role}") for label in labels[end:whole]):
            end = max(end, whole)
        named_until = end
        getattr(parsed, role).append(" ".join(lowered[words[first][0]:words[end - 1][1]].split()))
    return parsed
