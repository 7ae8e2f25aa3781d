"""The deployable composed-image-retrieval model: the one definition shared by training and the submission.

The backbone is any open_clip CLIP whose vision tower splits into trunk and tail (open_clip ViTs and ModifiedResNets;
timm ViTs, EVA02, ConvNeXt, FastViT: SigLIP, ViTamin, EVA, ConvNeXt and MobileCLIP models), built from open_clip's
resolved config (model config with its QuickGELU flag, preprocessing, tokenizer), which is what ships: the judge
builds from it with no name looked up. This file imports nothing from the training pipeline, so it ships as it is.
"""
from __future__ import annotations

import copy
import json
import math
import re
import zlib
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
import timm.models
from open_clip.modified_resnet import ModifiedResNet
from open_clip.pretrained import download_pretrained, get_pretrained_cfg
from open_clip.timm_model import TimmModel
from open_clip.tokenizer import HFTokenizer, SimpleTokenizer
from open_clip.transform import PreprocessCfg, image_transform_v2, merge_preprocess_dict
from open_clip.transformer import VisionTransformer
from PIL import Image, ImageFile, ImageOps
from torch import nn


def object_phrase(name: str) -> str:
    """The phrase whose text embedding stands for one object."""
    article = "an" if name[:1].lower() in tuple("aeiou") else "a"
    return f"a photo of {article} {name}"


def build_clip(model_cfg: dict, preprocess_cfg: dict | None = None) -> nn.Module:
    """A CLIP with random weights from an open_clip model config (its `model_cfg` schema: embed_dim, vision_cfg,
    text_cfg, quick_gelu, custom_text, ...) and preprocessing overrides. Nothing is downloaded: timm towers are
    built without their ImageNet weights, and text towers that need Hugging Face files are refused."""
    model_cfg = copy.deepcopy(model_cfg)
    if "hf_model_name" in model_cfg["text_cfg"]:
        raise ValueError(f"text tower {model_cfg['text_cfg']['hf_model_name']!r} is a Hugging Face model whose "
                         "config comes from the hub at run time: not supported offline")
    if "timm_model_name" in model_cfg["vision_cfg"]:
        model_cfg["vision_cfg"]["timm_model_pretrained"] = False
    model_class = open_clip.CustomTextCLIP if model_cfg.pop("custom_text", False) else open_clip.CLIP
    clip = model_class(**model_cfg)
    preprocess = merge_preprocess_dict(asdict(PreprocessCfg()), preprocess_cfg or {})
    preprocess["size"] = clip.visual.image_size
    clip.visual.preprocess_cfg = preprocess
    return clip


def model_config(model: str | dict) -> dict:
    """open_clip's model config (a copy) for an architecture name, a config dict, or a config JSON's path."""
    if isinstance(model, dict):
        return copy.deepcopy(model)
    if model.endswith(".json"):
        return json.loads(Path(model).read_text())
    found = open_clip.get_model_config(model)
    if found is None:
        raise ValueError(f"unknown open_clip architecture {model!r}; see open_clip.list_models()")
    return copy.deepcopy(found)


def resolve_config(model: str | dict, pretrained: str | None = None) -> tuple[dict, str | None]:
    """What a backbone is built from, resolved once: open_clip's config (`{"model_cfg", "preprocess_cfg"}`, its
    local-dir schema) and the checkpoint to load, if any.

    `model`: an open_clip architecture name, a model-config dict, or a path to a model-config JSON.
    `pretrained`: an open_clip tag of that name (its QuickGELU flag and preprocessing are taken into the config,
    its weights downloaded: for users with internet), a local checkpoint path, or None for random weights.
    """
    model_cfg, preprocess = model_config(model), {}
    if isinstance(model, str) and not model.endswith(".json"):
        tag = get_pretrained_cfg(model, pretrained) if pretrained and not Path(pretrained).is_file() else {}
        if tag:
            model_cfg["quick_gelu"] = tag.get("quick_gelu", model_cfg.get("quick_gelu", False))
            preprocess = merge_preprocess_dict({}, tag)
            pretrained = download_pretrained(tag)
    if pretrained and not Path(pretrained).is_file():
        raise FileNotFoundError(f"pretrained {pretrained!r} is neither a tag of {model!r} nor a file")
    return {"model_cfg": model_cfg, "preprocess_cfg": preprocess}, pretrained


def build_tokenizer(model_cfg: dict, tokenizer_dir: str | Path | None = None):
    """The text tower's tokenizer: open_clip's BPE, or a Hugging Face tokenizer read from `tokenizer_dir` (the
    shipped files) or, without one, from the hub name in the config."""
    text = model_cfg["text_cfg"]
    context, kwargs = text.get("context_length", 77), text.get("tokenizer_kwargs", {})
    if text.get("hf_tokenizer_name"):
        source = str(tokenizer_dir) if tokenizer_dir else text["hf_tokenizer_name"]
        return HFTokenizer(source, context_length=context, tokenizer_mode=text.get("tokenizer_mode"), **kwargs)
    return SimpleTokenizer(context_length=context, **kwargs)


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


class TowerSplit:
    """A vision tower seen as stem → units (blocks, or stages of a hierarchical tower) → head, so that the last K
    units and the head (the tail) can run on the activations cached where they begin. One subclass per kind."""

    unit = "block"

    def __init__(self, visual: nn.Module):
        self.visual = visual
        self.units = self.find_units(visual)

    @staticmethod
    def find_units(visual: nn.Module) -> list[nn.Module]:
        raise NotImplementedError

    def stem(self, pixels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def run(self, index: int, x: torch.Tensor) -> torch.Tensor:
        return self.units[index](x)

    def head(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class OpenClipViTSplit(TowerSplit):
    @staticmethod
    def find_units(visual):
        return list(visual.transformer.resblocks)

    def stem(self, pixels):
        return self.visual._embeds(pixels)

    def head(self, x):
        pooled, _ = self.visual._pool(x)
        return pooled @ self.visual.proj if self.visual.proj is not None else pooled


class ModifiedResNetSplit(TowerSplit):
    @staticmethod
    def find_units(visual):
        return [block for layer in (visual.layer1, visual.layer2, visual.layer3, visual.layer4) for block in layer]

    def stem(self, pixels):
        return self.visual.stem(pixels)

    def head(self, x):
        return self.visual.attnpool(x)


class TimmViTSplit(TowerSplit):
    """timm's VisionTransformer: SigLIP, ViTamin (its convolutional stages are the stem), DFN-style timm ViTs."""

    @staticmethod
    def find_units(visual):
        return list(visual.trunk.blocks)

    def stem(self, pixels):
        t = self.visual.trunk
        return t.norm_pre(t.patch_drop(t._pos_embed(t.patch_embed(pixels))))

    def head(self, x):
        return self.visual.head(self.visual.trunk.forward_head(self.visual.trunk.norm(x)))


class TimmEvaSplit(TimmViTSplit):
    """timm's Eva (EVA02): its blocks also take the rotary position embedding, which depends on the grid only."""

    def stem(self, pixels):
        t = self.visual.trunk
        return t.norm_pre(t._pos_embed(t.patch_embed(pixels))[0])

    def run(self, index, x):
        t = self.visual.trunk
        rope = None
        if t.rope is not None:
            rope = t.rope.get_embed() if hasattr(t.rope, "feat_shape") else t.rope.get_embed(shape=t.patch_embed.grid_size)
            rope = rope[index] if getattr(t, "rope_mixed", False) else rope
        return t.blocks[index](x, rope=rope)


class TimmStagesSplit(TowerSplit):
    """Hierarchical timm towers (ConvNeXt; FastViT, MobileCLIP's image tower): units are whole stages."""

    unit = "stage"
    FINISH = {timm.models.ConvNeXt: "norm_pre", timm.models.FastVit: "final_conv"}

    @staticmethod
    def find_units(visual):
        return list(visual.trunk.stages)

    def stem(self, pixels):
        return self.visual.trunk.stem(pixels)

    def head(self, x):
        t = self.visual.trunk
        return self.visual.head(t.forward_head(getattr(t, self.FINISH[type(t)])(x)))


def tower_split(visual: nn.Module) -> TowerSplit:
    """The split of this vision tower; a tower no split knows stops here, named."""
    if isinstance(visual, VisionTransformer):
        return OpenClipViTSplit(visual)
    if isinstance(visual, ModifiedResNet):
        return ModifiedResNetSplit(visual)
    if isinstance(visual, TimmModel):
        trunk_class = type(visual.trunk)
        if trunk_class is timm.models.Eva:
            return TimmEvaSplit(visual)
        if trunk_class is timm.models.VisionTransformer:
            return TimmViTSplit(visual)
        if trunk_class in TimmStagesSplit.FINISH:
            return TimmStagesSplit(visual)
    name = type(visual).__name__ + (f" (timm {type(visual.trunk).__name__})" if isinstance(visual, TimmModel) else "")
    raise TypeError(f"vision tower {name} cannot be split into trunk and tail; supported: open_clip "
                    "VisionTransformer, ModifiedResNet, and timm VisionTransformer (SigLIP, ViTamin), Eva (EVA02), "
                    "ConvNeXt, FastVit (MobileCLIP)")


class Backbone(nn.Module):
    """An open_clip CLIP seen as: image trunk → last K visual units (the tail) → embedding; text → embedding.

    Splitting the vision tower lets training cache what enters the tail and retrain only the tail. `config` is
    open_clip's resolved config (`{"model_cfg", "preprocess_cfg"}`): what ships, so the judge builds this model.
    """

    def __init__(self, clip: nn.Module, tokenizer, config: dict):
        super().__init__()
        self.clip, self.tokenizer, self.config = clip, tokenizer, config
        self.split = tower_split(clip.visual)
        self.preprocess = image_transform_v2(PreprocessCfg(**clip.visual.preprocess_cfg), is_train=False)

    @classmethod
    def create(cls, model: str | dict, pretrained: str | None = None) -> "Backbone":
        """`model`: an open_clip architecture name, a model-config dict, or a path to a model-config JSON;
        `pretrained`: an open_clip tag, a checkpoint path, or None for random weights (see `resolve_config`)."""
        config, checkpoint = resolve_config(model, pretrained)
        backbone = cls.from_config(config)
        if checkpoint:
            open_clip.load_checkpoint(backbone.clip, checkpoint)
        return backbone

    @classmethod
    def from_config(cls, config: dict, tokenizer_dir: str | Path | None = None) -> "Backbone":
        """Random weights from a resolved config (see `resolve_config`); no name is looked up."""
        clip = build_clip(config["model_cfg"], config["preprocess_cfg"])
        return cls(clip, build_tokenizer(config["model_cfg"], tokenizer_dir), config)

    @property
    def tail_units(self) -> int:
        return len(self.split.units)

    def check_tail(self, tail_blocks: int) -> None:
        """Stops early, naming the tower and the valid K, when the last `tail_blocks` units cannot be the tail."""
        if not 0 <= tail_blocks <= self.tail_units:
            tower = type(self.clip.visual).__name__
            raise ValueError(f"tail_blocks={tail_blocks} does not fit the vision tower {tower}: it has "
                             f"{self.tail_units} {self.split.unit}s, so K must be 0..{self.tail_units} "
                             "(0: frozen tower, adapter only)")

    def tail_parameters(self, tail_blocks: int) -> dict[str, nn.Parameter]:
        """The weights the tail's output depends on (its units and the head), keyed as in the CLIP's state dict;
        none for K = 0, a frozen tower. Found by differentiating the tail once, so every tower kind is covered."""
        self.check_tail(tail_blocks)
        if tail_blocks == 0:
            return {}
        named = [(f"visual.{n}", p) for n, p in self.clip.visual.named_parameters()]
        wanted = [p.requires_grad for _, p in named]
        with torch.no_grad():
            activations = self.trunk(self.preprocess(Image.new("RGB", (32, 32))).unsqueeze(0).to(self.device,
                                                                                                  self.dtype),
                                     tail_blocks)
        for _, p in named:
            p.requires_grad_(True)
        try:
            with torch.enable_grad():  # also when called under no_grad
                output = self.tail(activations, tail_blocks).float().sum()
            grads = torch.autograd.grad(output, [p for _, p in named], allow_unused=True)
        finally:
            for (_, p), flag in zip(named, wanted):
                p.requires_grad_(flag)
        return {name: p for (name, p), grad in zip(named, grads) if grad is not None}

    def trunk(self, pixels: torch.Tensor, tail_blocks: int) -> torch.Tensor:
        """The activations entering the last `tail_blocks` visual units."""
        x = self.split.stem(pixels)
        for index in range(self.tail_units - tail_blocks):
            x = self.split.run(index, x)
        return x

    def tail(self, activations: torch.Tensor, tail_blocks: int) -> torch.Tensor:
        """Unnormalised image embeddings from the activations `trunk` returned."""
        x = activations
        for index in range(self.tail_units - tail_blocks, self.tail_units):
            x = self.split.run(index, x)
        return self.split.head(x)

    @property
    def device(self) -> torch.device:
        return self.clip.logit_scale.device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.clip.visual.parameters()).dtype

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        pixels = pixels.to(self.device, self.dtype)
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


def phrase_sums(parsed: list[ParsedQuery], encode_phrases, dim: int, device: str | torch.device = "cpu"
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Σ of the object-phrase embeddings to add and to remove, per query (zero rows where none); each distinct
    object is encoded once. `encode_phrases`: texts → [N, dim] L2-normalised rows."""
    names = sorted({name for query in parsed for name in query.add + query.remove})
    vectors = (encode_phrases([object_phrase(name) for name in names]).float().to(device) if names
               else torch.zeros(1, dim, device=device))
    position = {name: i for i, name in enumerate(names)}

    def sums(role: str) -> torch.Tensor:
        pairs = [(row, position[name]) for row, query in enumerate(parsed) for name in getattr(query, role)]
        out = torch.zeros(len(parsed), dim, device=vectors.device)
        if pairs:
            rows, columns = zip(*pairs)
            out.index_add_(0, torch.tensor(rows, device=vectors.device), vectors[list(columns)])
        return out

    return sums("add"), sums("remove")


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
