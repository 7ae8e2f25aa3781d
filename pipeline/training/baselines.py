"""Reference methods the adapter is measured against; none of them ships."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ImageOnly(nn.Module):
    """The reference image as the query: what the edit changes is ignored."""

    def forward(self, image, add, remove, text):
        return image


class TextOnly(nn.Module):
    """The whole modification text as the query: the reference image is ignored."""

    def forward(self, image, add, remove, text):
        return text


class Combiner(nn.Module):
    """CLIP4Cir's Combiner on the reference image and the whole text (no parsing).

    Args:
        dim: embedding width of the backbone.
        projection_dim: width of the image and text projections.
        hidden_dim: width of the combining layer.
    """

    def __init__(self, dim: int, projection_dim: int = 512, hidden_dim: int = 1024):
        super().__init__()
        self.text_projection = nn.Sequential(nn.Linear(dim, projection_dim), nn.ReLU(), nn.Dropout(0.5))
        self.image_projection = nn.Sequential(nn.Linear(dim, projection_dim), nn.ReLU(), nn.Dropout(0.5))
        self.combiner = nn.Sequential(nn.Linear(2 * projection_dim, hidden_dim), nn.ReLU(), nn.Dropout(0.5))
        self.output = nn.Linear(hidden_dim, dim)
        self.dynamic_scalar = nn.Sequential(nn.Linear(2 * projection_dim, hidden_dim), nn.ReLU(), nn.Dropout(0.5),
                                            nn.Linear(hidden_dim, 1), nn.Sigmoid())

    def forward(self, image, add, remove, text):
        projected = torch.cat([self.text_projection(text), self.image_projection(image)], dim=-1)
        mix = self.dynamic_scalar(projected)
        combined = self.output(self.combiner(projected)) + mix * text + (1 - mix) * image
        return F.normalize(combined, dim=-1)
