"""What a backbone sees zero-shot: which of an image's objects its nearest object phrases name."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


@torch.no_grad()
def object_recall_at_k(image_embeddings: torch.Tensor, phrase_embeddings: torch.Tensor,
                       objects: list[list[int]]) -> float:
    """For each image with k objects, the share of them among its top-k phrases; averaged over images."""
    similarity = F.normalize(image_embeddings, dim=-1) @ F.normalize(phrase_embeddings, dim=-1).T
    recalls = []
    for row, present in zip(similarity, objects):
        top = set(row.topk(len(present)).indices.tolist())
        recalls.append(len(top & set(present)) / len(present))
    return float(np.mean(recalls))
