"""Fusion: reference image + parsed edit + whole text -> query embedding."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class FusionAdapter(nn.Module):
    """Query = image + a·Σ add − r·Σ remove + a learned correction, L2-normalised.

    Starts as the arithmetic rule (the best public method): a = r = 1 and the correction's last layer is zero,
    so training can only begin from there. A query whose text names no object is the reference image itself.

    Args:
        dim: embedding width of the backbone.
        hidden: width of the correction MLP.
        text: whether the correction reads the whole text's embedding (or only the image and the parsed edit).
    """

    def __init__(self, dim: int, hidden: int = 512, text: bool = True):
        super().__init__()
        self.config = {"dim": dim, "hidden": hidden, "text": text}
        self.add_scale = nn.Parameter(torch.ones(()))
        self.remove_scale = nn.Parameter(torch.ones(()))
        self.correction = nn.Sequential(nn.Linear((4 if text else 3) * dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
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
        inputs = [image, add, remove, text] if self.config["text"] else [image, add, remove]
        correction = self.correction(torch.cat(inputs, dim=-1))
        fused = F.normalize(self.arithmetic(image, add, remove) + correction, dim=-1)
        # A text that names nothing to add or remove (empty, off-topic, unparseable) asks for the reference.
        edited = (add.abs().sum(-1, keepdim=True) + remove.abs().sum(-1, keepdim=True)) > 0
        return torch.where(edited, fused, F.normalize(image, dim=-1))

    @classmethod
    def from_saved(cls, saved: dict) -> "FusionAdapter":
        """The adapter `saved()` described: its sizes and its weights."""
        adapter = cls(**saved["config"])
        adapter.load_state_dict(saved["state_dict"])
        return adapter

    def saved(self) -> dict:
        return {"config": dict(self.config), "state_dict": self.state_dict()}
