"""Ranking under the judge's protocol, written once: where each query's target lands among the database by cosine,
the scores read from those ranks (Top-1 first), and what a backbone sees zero-shot (object recall@k)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


@torch.no_grad()
def target_ranks(similarity: torch.Tensor | np.ndarray, target_columns: np.ndarray) -> np.ndarray:
    """Each query's target rank: how many database items score strictly higher (0: retrieved first)."""
    similarity = torch.as_tensor(similarity)
    target_scores = similarity[torch.arange(len(target_columns)), torch.as_tensor(np.asarray(target_columns))]
    return (similarity > target_scores[:, None]).sum(dim=1).numpy()


def top1(ranks: np.ndarray) -> float:
    """The judge's figure: the share of queries whose target is the closest database item."""
    return float(np.mean(np.asarray(ranks) == 0))


def retrieval_scores(ranks: np.ndarray) -> dict:
    """Top-1, Top-5 and mean reciprocal rank."""
    return {"top1": top1(ranks), "top5": float(np.mean(ranks < 5)), "mrr": float(np.mean(1 / (ranks + 1)))}


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
