"""The deployed model: backbone with its tuned tail, fusion adapter and query tagger, built from `weights.pth` alone
on the judge's device (CUDA in fp16 when there is one), with batch sizes that adapt to its memory."""
from __future__ import annotations

from pathlib import Path

import torch

from .backbone import Backbone
from .fusion import FusionAdapter
from .images import PixelPipeline
from .tagger import QueryTagger
from .weights import load_weights


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


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


class DeployedModel:
    """Every trained part, on one device at one precision; nothing is looked up by name or downloaded.

    Args:
        backbone: the CLIP with its tuned tail.
        adapter: the fusion adapter.
        tagger: the query tagger.
        device: where it runs (default: CUDA when there is a GPU, else the CPU).
        dtype: the backbone's precision (default: fp16 on CUDA, fp32 elsewhere).
    """

    def __init__(self, backbone: Backbone, adapter: FusionAdapter, tagger: QueryTagger, device: str | None = None,
                 dtype: torch.dtype | None = None):
        self.device = device or default_device()
        self.dtype = dtype or (torch.float16 if self.device.startswith("cuda") else torch.float32)
        self.backbone = backbone.to(self.device, self.dtype).eval()
        self.adapter = adapter.to(self.device).eval()
        self.tagger = tagger.to(self.device)
        self.dim = adapter.config["dim"]
        self.pixels = PixelPipeline(backbone.preprocess, self.device, self.dtype)
        self.image_batches, self.text_batches = AdaptiveBatches(256), AdaptiveBatches(512)

    @classmethod
    def load(cls, path: Path, device: str | None = None, dtype: torch.dtype | None = None) -> "DeployedModel":
        """The model `weights.pth` at `path` describes (tokenizer files, if any, beside it)."""
        saved = load_weights(path)
        shipped = saved["backbone"]
        tokenizer_dir = Path(path).parent / shipped["tokenizer_dir"] if shipped["tokenizer_dir"] else None
        backbone = Backbone.from_config(shipped["config"], tokenizer_dir)
        backbone.clip.load_state_dict(shipped["state_dict"])
        return cls(backbone, FusionAdapter.from_saved(saved["adapter"]), QueryTagger.from_saved(saved["tagger"]),
                   device, dtype)
