"""The deployable composed-image-retrieval model: the one definition shared by training and the submission.

The backbone is any open_clip CLIP: a named architecture with an open_clip tag or a local checkpoint, or a
config dict (open_clip's model-config schema) for small custom models such as the pipeline's `bootstrap` CLIP.
This file imports nothing from the training pipeline, so it ships as it is.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import open_clip
import torch
import torch.nn.functional as F
from open_clip.modified_resnet import ModifiedResNet
from open_clip.transform import PreprocessCfg, image_transform_v2
from open_clip.transformer import VisionTransformer
from torch import nn


def object_phrase(name: str) -> str:
    """The phrase whose text embedding stands for one object."""
    article = "an" if name[:1].lower() in tuple("aeiou") else "a"
    return f"a photo of {article} {name}"


def build_clip(config: dict) -> open_clip.CLIP:
    """A CLIP with random weights from an open_clip model-config dict (embed_dim, vision_cfg, text_cfg)."""
    clip = open_clip.CLIP(**config)
    image_size = config["vision_cfg"].get("image_size", 224)
    clip.visual.preprocess_cfg = {"size": image_size, "mean": open_clip.OPENAI_DATASET_MEAN,
                                  "std": open_clip.OPENAI_DATASET_STD, "interpolation": "bicubic",
                                  "resize_mode": "shortest"}
    return clip


def load_clip_checkpoint(path: str | Path) -> tuple[open_clip.CLIP, dict]:
    """A CLIP saved by `save_clip_checkpoint`: its config travels with its weights."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    clip = build_clip(saved["config"])
    clip.load_state_dict(saved["state_dict"])
    return clip, saved["config"]


def save_clip_checkpoint(clip: open_clip.CLIP, config: dict, path: str | Path) -> None:
    torch.save({"config": config, "state_dict": clip.state_dict()}, path)


class Backbone(nn.Module):
    """An open_clip CLIP seen as: image trunk → last K visual blocks (the tail) → embedding; text → embedding.

    Splitting the vision tower lets training cache what enters the tail and retrain only the tail.
    """

    def __init__(self, clip: open_clip.CLIP, tokenizer, name: str):
        super().__init__()
        self.clip, self.tokenizer, self.name = clip, tokenizer, name
        self.preprocess = image_transform_v2(PreprocessCfg(**clip.visual.preprocess_cfg), is_train=False)

    @classmethod
    def create(cls, model: str | dict, pretrained: str | None = None) -> "Backbone":
        """`model`: an open_clip architecture name, a model-config dict, or a path to a model-config JSON.

        `pretrained`: an open_clip tag or a checkpoint path for a named architecture; for a config, a checkpoint
        path (a state dict, or a file written by `save_clip_checkpoint`) or None for random weights.
        """
        if isinstance(model, str) and model.endswith(".json"):
            model = json.loads(Path(model).read_text())
        if isinstance(model, dict):
            clip = build_clip(model)
            if pretrained:
                saved = torch.load(pretrained, map_location="cpu", weights_only=True)
                clip.load_state_dict(saved.get("state_dict", saved))
            context = model["text_cfg"].get("context_length", 77)
            return cls(clip, open_clip.tokenizer.SimpleTokenizer(context_length=context), "custom")
        clip = open_clip.create_model(model, pretrained=pretrained)
        return cls(clip, open_clip.get_tokenizer(model), model)

    @property
    def visual_blocks(self) -> list[nn.Module]:
        visual = self.clip.visual
        if isinstance(visual, VisionTransformer):
            return list(visual.transformer.resblocks)
        if isinstance(visual, ModifiedResNet):
            return [block for layer in (visual.layer1, visual.layer2, visual.layer3, visual.layer4) for block in layer]
        raise TypeError(f"unsupported vision tower {type(visual).__name__}: a ViT or a ModifiedResNet is needed")

    def tail_modules(self, tail_blocks: int) -> list[nn.Module]:
        """The modules `tail` runs: the last blocks and the pooling head."""
        visual = self.clip.visual
        head = [visual.attnpool] if isinstance(visual, ModifiedResNet) else [visual.ln_post]
        blocks = self.visual_blocks
        return blocks[len(blocks) - tail_blocks:] + head

    def tail_parameters(self, tail_blocks: int) -> dict[str, nn.Parameter]:
        """The weights `tail` uses (with the ViT's projection), keyed as in the CLIP's state dict."""
        names = {id(p): n for n, p in self.clip.named_parameters()}
        params = {names[id(p)]: p for m in self.tail_modules(tail_blocks) for p in m.parameters()}
        visual = self.clip.visual
        if isinstance(visual, VisionTransformer) and visual.proj is not None:
            params["visual.proj"] = visual.proj
        return params

    def trunk(self, pixels: torch.Tensor, tail_blocks: int) -> torch.Tensor:
        """The activations entering the last `tail_blocks` visual blocks."""
        visual = self.clip.visual
        x = visual._embeds(pixels) if isinstance(visual, VisionTransformer) else visual.stem(pixels)
        for block in self.visual_blocks[: len(self.visual_blocks) - tail_blocks]:
            x = block(x)
        return x

    def tail(self, activations: torch.Tensor, tail_blocks: int) -> torch.Tensor:
        """Unnormalised image embeddings from the activations `trunk` returned."""
        visual = self.clip.visual
        x = activations
        for block in self.visual_blocks[len(self.visual_blocks) - tail_blocks:]:
            x = block(x)
        if isinstance(visual, ModifiedResNet):
            return visual.attnpool(x)
        pooled, _ = visual._pool(x)
        return pooled @ visual.proj if visual.proj is not None else pooled

    @property
    def device(self) -> torch.device:
        return self.clip.logit_scale.device

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        pixels = pixels.to(self.device, self.clip.logit_scale.dtype)
        return F.normalize(self.clip.encode_image(pixels), dim=-1)

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        return F.normalize(self.clip.encode_text(self.tokenizer(texts).to(self.device)), dim=-1)


# ---------------------------------------------------------------------------------------------------------------
# Query parser: modification text -> phrases to add, phrases to remove. Rules only (no LLM, no detector).

_SWAP_PATTERNS = [re.compile(p) for p in (
    r"^(?:replace|swap out|swap|exchange|trade|switch) (?P<old>.+?) (?:with|for|by) (?P<new>.+)$",
    r"^substitute (?P<new>.+?) for (?P<old>.+)$",
    r"^(?:change|turn|transform|convert) (?P<old>.+?) into (?P<new>.+)$",
    r"^(?P<new>.+?) (?:instead of|in place of|rather than) (?P<old>.+)$",
    r"^(?P<new>.+?) (?:should|must|will|to) replace (?P<old>.+)$",
    r"^(?P<old>.+?) out,? (?P<new>.+?) in$",
)]
# Longest first, so that "bring in" wins over "bring" and "no more" over "no".
_REMOVE_PREFIXES = sorted((
    "remove", "get rid of", "take out", "take away", "drop", "delete", "erase", "lose", "eliminate", "exclude",
    "without", "no more", "no", "minus", "throw out", "throw away", "clear out", "clear away", "discard",
    "there should be no", "there should not be", "i don't want",
), key=len, reverse=True)
_ADD_PREFIXES = sorted((
    "add", "put in", "put", "insert", "include", "bring in", "bring", "place", "show", "also show", "now with",
    "with", "plus", "there should also be", "there should be", "i want", "i'd like", "i would like", "introduce",
    "also add", "draw", "paint", "give it",
), key=len, reverse=True)
_KEEP_PREFIXES = ("keep", "leave", "retain")
_REMOVE_SUFFIXES = sorted(("should be gone", "gone", "removed", "deleted", "disappear", "vanish", "out", "away",
                           "should go", "must go", "has to go", "is gone", "are gone"), key=len, reverse=True)
_ADD_SUFFIXES = ("in", "added")
_SUFFIX_VERBS = ("make", "with", "have", "get", "throw", "take", "kick", "bring", "put", "let")
_LEADING_FILLERS = ("and", "please", "could you", "can you", "would you", "kindly", "now", "then", "also", "same scene",
                    "same picture", "same image", "the scene", "the picture", "the image", "but")
_TRAILING_FILLERS = ("please", "here", "somewhere", "in the picture", "in the scene", "in the image",
                     "to the picture", "to the scene", "to the image", "from the picture", "from the scene",
                     "from the image", "into the scene", "into the picture", "in it", "there", "too", "as well")
_DETERMINERS = ("a", "an", "the", "one", "two", "three", "some", "any", "that", "this", "these", "those",
                "another", "more", "new", "all", "every")
_CLAUSE_SPLIT = re.compile(r"\s*;\s*|,?\s+and then\s+|,?\s+then\s+|,?\s+but\s+|,?\s+while\s+")
_LIST_SPLIT = re.compile(r"\s*,\s*(?:and\s+)?|\s+and\s+|\s*&\s*|\s+as well as\s+|\s+along with\s+")


def _strip_words(text: str, words, leading: bool) -> str:
    changed = True
    while changed and text:
        changed = False
        for word in words:
            if leading and (text == word or text.startswith(word + " ")):
                text, changed = text[len(word):].strip(), True
            elif not leading and (text == word or text.endswith(" " + word)):
                text, changed = text[: len(text) - len(word)].strip(), True
    return text


def _object_name(item: str) -> str:
    item = _strip_words(_strip_words(item.strip(), _LEADING_FILLERS, True), _TRAILING_FILLERS, False)
    return _strip_words(item, _DETERMINERS, True)


def _split_objects(text: str) -> list[str]:
    return [name for name in (_object_name(p) for p in _LIST_SPLIT.split(text)) if name]


@dataclass
class ParsedQuery:
    add: list[str]
    remove: list[str]


def _segment_polarity(segment: str) -> tuple[str | None, str, str]:
    """(polarity: 'add' | 'remove' | 'keep' | None, the segment without its verb, where the verb was).

    The place is 'prefix', 'suffix' ("the cat gone"), 'weak' (a bare "with", which a later suffix in the same
    clause overrides: "with the cat and the dog removed"), 'closer' for a verbless segment ending a list
    ("the snail here"), or '' when the segment has no verb.
    """
    segment = _strip_words(segment, _LEADING_FILLERS, True)
    for prefix in _KEEP_PREFIXES:
        if segment.startswith(prefix + " "):
            return "keep", segment, "prefix"
    for suffix in _REMOVE_SUFFIXES:
        if segment.endswith(" " + suffix):
            return "remove", _strip_words(segment[: -len(suffix)].strip(), _SUFFIX_VERBS, True), "suffix"
    for prefix in _REMOVE_PREFIXES:
        if segment.startswith(prefix + " "):
            return "remove", segment[len(prefix):].strip(), "prefix"
    for prefix in _ADD_PREFIXES:
        if segment.startswith(prefix + " "):
            return "add", segment[len(prefix):].strip(), "weak" if prefix == "with" else "prefix"
    for suffix in _ADD_SUFFIXES:
        if segment.endswith(" " + suffix):
            return "add", _strip_words(segment[: -len(suffix)].strip(), _SUFFIX_VERBS, True), "suffix"
    if _strip_words(segment, _TRAILING_FILLERS, False) != segment:
        return None, segment, "closer"  # "… the snail here": ends the list before it
    return None, segment, ""


def _resolve_polarities(segments: list[tuple[str | None, str, str]]) -> list[str]:
    """A verbless (or weak) segment belongs to a following suffix verb if one closes its list, else to the
    verb before it; add when there is none."""
    resolved: list[str | None] = [None] * len(segments)
    following: tuple[str | None, str] = (None, "")
    for i in range(len(segments) - 1, -1, -1):
        polarity, _, place = segments[i]
        if place in ("", "weak") and following[1] == "suffix":
            resolved[i] = following[0]
        elif place not in ("", "weak"):
            resolved[i], following = polarity, (polarity, place)
        elif place in ("weak", "closer"):
            resolved[i], following = polarity, (polarity, place)
    previous = "add"
    for i, (polarity, _, place) in enumerate(segments):
        resolved[i] = resolved[i] or previous
        previous = resolved[i]
    return resolved


class QueryParser:
    """Splits a modification text into the objects to add and those to remove.

    Handles synonyms of add/remove, swaps in both orders ("replace Y with X", "X instead of Y"), negations
    ("without Y", "no more Y"), lists with commas, "and" and "&", any case and punctuation. `protected` names
    (e.g. "fork and knife") are never split. Text that is not a string, or says nothing parseable, yields
    empty lists.
    """

    def __init__(self, protected: list[str] | tuple[str, ...] = ()):
        self.protected = sorted({p.lower() for p in protected if re.search(r"\band\b|,|&", p)}, key=len, reverse=True)

    def __call__(self, text) -> ParsedQuery:
        parsed = ParsedQuery([], [])
        if not isinstance(text, str):
            return parsed
        text = re.sub(r"[!?.\"“”]+", " ", text.lower()).replace("’", "'")
        text = re.sub(r"\s+", " ", text).strip(" ,")
        for i, name in enumerate(self.protected):
            text = re.sub(rf"\b{re.escape(name)}\b", f"\x00{i}\x00", text)
        for clause in filter(None, _CLAUSE_SPLIT.split(text)):
            self._parse_clause(clause.strip(" ,"), parsed)
        restore = lambda name: re.sub(r"\x00(\d+)\x00", lambda m: self.protected[int(m[1])], name)  # noqa: E731
        return ParsedQuery([restore(n) for n in parsed.add], [restore(n) for n in parsed.remove])

    @staticmethod
    def _parse_clause(clause: str, parsed: ParsedQuery) -> None:
        swap = next((m for m in (p.match(clause) for p in _SWAP_PATTERNS) if m), None)
        if swap:
            polarity, new, _ = _segment_polarity(swap["new"])
            parsed.add += _split_objects(new if polarity == "add" else swap["new"])
            parsed.remove += _split_objects(swap["old"])
            return
        segments = [_segment_polarity(segment.strip()) for segment in _LIST_SPLIT.split(clause)]
        for (_, rest, _), polarity in zip(segments, _resolve_polarities(segments)):
            if polarity in ("add", "remove"):
                getattr(parsed, polarity).extend(_split_objects(rest))


# ---------------------------------------------------------------------------------------------------------------
# Fusion: reference image + parsed edit + whole text -> query embedding.

class FusionAdapter(nn.Module):
    """Query = image + a·Σ add − r·Σ remove + a learned correction, L2-normalised.

    Starts as the arithmetic rule (the best public method): a = r = 1 and the correction's last layer is zero,
    so training can only begin from there.

    Args:
        dim: embedding width of the backbone.
        hidden: width of the correction MLP.
    """

    def __init__(self, dim: int, hidden: int = 512):
        super().__init__()
        self.add_scale = nn.Parameter(torch.ones(()))
        self.remove_scale = nn.Parameter(torch.ones(()))
        self.correction = nn.Sequential(nn.Linear(4 * dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        nn.init.zeros_(self.correction[-1].weight)
        nn.init.zeros_(self.correction[-1].bias)

    def arithmetic(self, image: torch.Tensor, add: torch.Tensor, remove: torch.Tensor) -> torch.Tensor:
        """The rule part: image + a·Σ add − r·Σ remove (all inputs L2-normalised, sums over phrases)."""
        return image + self.add_scale * add - self.remove_scale * remove

    def forward(self, image: torch.Tensor, add: torch.Tensor, remove: torch.Tensor, text: torch.Tensor):
        """
        Args:
            image: [B, D] reference image embeddings (L2-normalised).
            add: [B, D] sums of the embeddings of the phrases to add (zeros when none).
            remove: [B, D] sums of the embeddings of the phrases to remove (zeros when none).
            text: [B, D] embeddings of the whole modification texts.
        """
        correction = self.correction(torch.cat([image, add, remove, text], dim=-1))
        return F.normalize(self.arithmetic(image, add, remove) + correction, dim=-1)
