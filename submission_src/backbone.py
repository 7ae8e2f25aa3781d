"""The backbone: any open_clip CLIP, built from open_clip's resolved config, its vision tower split into trunk and tail.

Supported towers: open_clip ViTs and ModifiedResNets; timm ViTs, EVA02, ConvNeXt, FastViT (SigLIP, ViTamin, EVA,
ConvNeXt and MobileCLIP models). The resolved config (model config with its QuickGELU flag, preprocessing,
tokenizer) is what ships: the judge builds from it with no name looked up.
"""
from __future__ import annotations

import copy
import json
from dataclasses import asdict
from pathlib import Path

import open_clip
import timm.models
import torch
import torch.nn.functional as F
from open_clip.modified_resnet import ModifiedResNet
from open_clip.pretrained import download_pretrained, get_pretrained_cfg
from open_clip.timm_model import TimmModel
from open_clip.tokenizer import HFTokenizer, SimpleTokenizer
from open_clip.transform import PreprocessCfg, image_transform_v2, merge_preprocess_dict
from open_clip.transformer import VisionTransformer
from PIL import Image
from torch import nn

from .images import with_white_balance


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
            grid = t.patch_embed.grid_size
            rope = t.rope.get_embed() if hasattr(t.rope, "feat_shape") else t.rope.get_embed(shape=grid)
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
    """An open_clip CLIP seen as: image trunk → last K visual blocks (the tail) → embedding; text → embedding.

    Splitting the vision tower lets training cache what enters the tail and retrain only the tail. `config` is
    open_clip's resolved config (`{"model_cfg", "preprocess_cfg"}`, and `"white_balance": <scope>` where images are
    white-balanced before the tower: images.WhiteBalance): what ships, so the judge builds this model.
    """

    def __init__(self, clip: nn.Module, tokenizer, config: dict):
        super().__init__()
        self.clip, self.tokenizer, self.config = clip, tokenizer, config
        self.split = tower_split(clip.visual)
        self.preprocess = image_transform_v2(PreprocessCfg(**clip.visual.preprocess_cfg), is_train=False)
        if config.get("white_balance"):
            self.preprocess = with_white_balance(self.preprocess, config["white_balance"])

    @classmethod
    def create(cls, model: str | dict, pretrained: str | None = None, white_balance: str | None = None) -> "Backbone":
        """`model`: an open_clip architecture name, a model-config dict, or a path to a model-config JSON;
        `pretrained`: an open_clip tag, a checkpoint path, or None for random weights (see `resolve_config`);
        `white_balance`: None, or which pixels are balanced by the image's median colour before the tower ("image"
        or "floor": images.WhiteBalance)."""
        config, checkpoint = resolve_config(model, pretrained)
        if white_balance:
            config["white_balance"] = white_balance
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
                             "(0: only the head, the recipe that trains the visual projection alone)")

    def tail_parameters(self, tail_blocks: int) -> dict[str, nn.Parameter]:
        """The weights the tail's output depends on (its units and the head), keyed as in the CLIP's state dict;
        the head's alone for K = 0. Found by differentiating the tail once, so every tower kind is covered."""
        self.check_tail(tail_blocks)
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
        """The activations entering the last `tail_blocks` visual blocks."""
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
