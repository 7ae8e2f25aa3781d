"""The deployable composed-image-retrieval model: the one definition shared by training and the submission.

The backbone is any open_clip CLIP: a named architecture with an open_clip tag or a local checkpoint, or a
config dict (open_clip's model-config schema) for small custom models such as the pipeline's `bootstrap` CLIP.
This file imports nothing from the training pipeline, so it ships as it is.
"""
from __future__ import annotations

import json
import math
import re
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from open_clip.modified_resnet import ModifiedResNet
from open_clip.transform import PreprocessCfg, image_transform_v2
from open_clip.transformer import VisionTransformer
from PIL import Image, ImageFile, ImageOps
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


# ---------------------------------------------------------------------------------------------------------------
# Image loading: the one loader of the judge's runtime and of every pipeline stage that reads image files.

IMAGE_DIRS = ("", "images")  # where relative image names are looked up, under the working directory
MAX_ASPECT = 4.0  # wider images are padded first, so that resizing cannot blow up
BLANK_RGB = (128, 128, 128)


def _resolve(name) -> Path | None:
    if not isinstance(name, str) or not name.strip():
        return None
    path = Path(name)
    for base in IMAGE_DIRS:
        candidate = path if path.is_absolute() else Path.cwd() / base / path
        if candidate.is_file():
            return candidate
    return None


def load_rgb(name, min_side: int = 0) -> tuple[Image.Image, bool]:
    """The image as 8-bit RGB (EXIF rotation applied, alpha on white, very wide images padded); (blank, False)
    when it cannot be read. A JPEG much larger than `min_side` is decoded at a reduced scale (still ≥ min_side)."""
    path = _resolve(name)
    if path is None:
        return Image.new("RGB", (224, 224), BLANK_RGB), False
    try:
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        with Image.open(path) as image:
            if min_side:
                image.draft(image.mode, (min_side, min_side))
            image.load()
            image = ImageOps.exif_transpose(image)
            if image.mode in ("I;16", "I;16B", "I;16L", "I"):
                array = np.asarray(image, dtype=np.float64)
                image = Image.fromarray((255 * array / max(array.max(), 1)).astype(np.uint8))
            if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                image = image.convert("RGBA")
                background = Image.new("RGBA", image.size, (255, 255, 255, 255))
                image = Image.alpha_composite(background, image)
            image = image.convert("RGB")
        if max(image.size) / max(1, min(image.size)) > MAX_ASPECT:
            side = max(image.size)
            image = ImageOps.pad(image, (side, max(1, math.ceil(side / MAX_ASPECT))) if image.width > image.height
                                 else (max(1, math.ceil(side / MAX_ASPECT)), side), color=BLANK_RGB)
        return image, True
    except Exception:  # any decoder failure means "unreadable": the row still gets an embedding
        return Image.new("RGB", (224, 224), BLANK_RGB), False


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
# Query tagger: modification text -> objects to add, objects to remove. A small learned sequence tagger (no LLM,
# no word lists): each word is tagged B/I of an object to add or to remove, or O.

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
    """

    def __init__(self, buckets: int = 1 << 16, dim: int = 64, hidden: int = 128, layers: int = 2,
                 dropout: float = 0.1, word_dropout: float = 0.0, max_words: int = 128):
        super().__init__()
        self.config = {"buckets": buckets, "dim": dim, "hidden": hidden, "layers": layers, "dropout": dropout,
                       "word_dropout": word_dropout, "max_words": max_words}
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
            tags = self(batch, words).argmax(-1).tolist() if any(words) else [[] for _ in batch]
            parsed += [decode_tags(text, ranges, row) for text, ranges, row in zip(batch, words, tags)]
        return parsed

    @classmethod
    def from_saved(cls, saved: dict) -> "QueryTagger":
        tagger = cls(**saved["config"])
        tagger.load_state_dict({k: v.float() for k, v in saved["state_dict"].items()})
        return tagger.eval()

    def saved(self) -> dict:
        return {"config": dict(self.config), "state_dict": self.state_dict()}


def decode_tags(text: str, words: list[tuple[int, int]], tags: list[int]) -> ParsedQuery:
    """Objects from word tags: a B starts one, an I continues one of its role (or starts one after O)."""
    parsed, lowered = ParsedQuery([], []), text.lower()
    current: tuple[str, int, int] | None = None
    for (a, b), tag in zip(words, tags):
        label = TAGS[tag]
        role = label[2:] if label != "O" else None
        if current and role == current[0] and label.startswith("I"):
            current = (role, current[1], b)
            continue
        if current:
            getattr(parsed, current[0]).append(" ".join(lowered[current[1]: current[2]].split()))
        current = (role, a, b) if role else None
    if current:
        getattr(parsed, current[0]).append(" ".join(lowered[current[1]: current[2]].split()))
    return parsed


# ---------------------------------------------------------------------------------------------------------------
# Fusion: reference image + parsed edit + whole text -> query embedding.

class FusionAdapter(nn.Module):
    """Query = image + a·Σ add − r·Σ remove + a learned correction, L2-normalised.

    Starts as the arithmetic rule (the best public method): a = r = 1 and the correction's last layer is zero,
    so training can only begin from there. A query whose text names no object is the reference image itself.

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
        fused = F.normalize(self.arithmetic(image, add, remove) + correction, dim=-1)
        # A text that names nothing to add or remove (empty, off-topic, unparseable) asks for the reference.
        edited = (add.abs().sum(-1, keepdim=True) + remove.abs().sum(-1, keepdim=True)) > 0
        return torch.where(edited, fused, F.normalize(image, dim=-1))
