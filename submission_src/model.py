"""The deployable composed-image-retrieval model: the one definition shared by training and the submission.

The backbone is any open_clip CLIP: a named architecture with an open_clip tag or a local checkpoint, or a
config dict (open_clip's model-config schema) for small custom models such as the pipeline's `bootstrap` CLIP.
This file imports nothing from the training pipeline, so it ships as it is.
"""
from __future__ import annotations

import json
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

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.clip.encode_image(pixels), dim=-1)

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        device = next(self.clip.parameters()).device
        return F.normalize(self.clip.encode_text(self.tokenizer(texts).to(device)), dim=-1)
