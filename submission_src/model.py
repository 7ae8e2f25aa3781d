"""The deployed model: backbone with its tuned tail, fusion adapter and query tagger, built from `weights.pth` alone
on the judge's device (CUDA in fp16 when there is one), with batch sizes that adapt to its memory."""
from __future__ import annotations

from pathlib import Path

import torch

from backbone import Backbone
from fusion import FusionAdapter
from images import PixelPipeline
from tagger import QueryTagger
from weights import load_weights


class AdaptiveBatches:
    """Applies a function batch by batch; a CUDA out-of-memory halves the batch size for good."""

    def __init__(self, size: int):
        self.size = size

    def __call__(self, fn, items) -> list[torch.Tensor]:
        outputs, start = [], 0
        while start < len(items):
            try:
                outputs.append(fn(items[start: start + self.size]))
                start += self.size
            except torch.cuda.OutOfMemoryError:
                if self.size == 1:
                    raise
                torch.cuda.empty_cache()
                self.size //= 2
        return outputs


class DeployedModel:
    """Every trained part, as `weights.pth` describes them; nothing is looked up by name or downloaded."""

    def __init__(self, path: Path):
        saved = load_weights(path)
        shipped = saved["backbone"]
        tokenizer_dir = path.parent / shipped["tokenizer_dir"] if shipped["tokenizer_dir"] else None
        self.backbone = Backbone.from_config(shipped["config"], tokenizer_dir)
        self.backbone.clip.load_state_dict(shipped["state_dict"])
        self.adapter = FusionAdapter.from_saved(saved["adapter"])
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.parser = QueryTagger.from_saved(saved["parser"]).to(self.device)
        self.dtype = torch.float16 if self.device == "cuda" else torch.float32
        self.backbone.to(self.device, self.dtype).eval()
        self.adapter.to(self.device).eval()
        self.dim = self.adapter.config["dim"]
        self.pixels = PixelPipeline(self.backbone.preprocess, self.device, self.dtype)
        self.image_batches, self.text_batches = AdaptiveBatches(256), AdaptiveBatches(512)
