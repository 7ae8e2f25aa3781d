"""Scoring under the judge's protocol (embed a split's queries and database, rank by cosine, Top-1), and what a
backbone sees zero-shot: object recall@k."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from pipeline.feature_store import FeatureCache
from pipeline.recall import object_recall_at_k
from pipeline.training import QuerySet, Retriever
from submission_src.phrases import object_phrase


@torch.no_grad()
def rank_queries(query_embeddings: torch.Tensor, database: torch.Tensor, database_rows: np.ndarray,
                 target_rows: np.ndarray, top: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """The judge's protocol: cosine over the database; returns each target's rank and each query's top rows."""
    similarity = F.normalize(query_embeddings.float(), dim=-1) @ F.normalize(database.float(), dim=-1).T
    position = {row: i for i, row in enumerate(database_rows)}
    target_scores = similarity[torch.arange(len(target_rows)), [position[r] for r in target_rows]]
    ranks = (similarity > target_scores[:, None]).sum(dim=1).numpy()
    return ranks, database_rows[similarity.topk(min(top, len(database_rows)), dim=1).indices.numpy()]


@torch.no_grad()
def embed_all(retriever: Retriever, cache: FeatureCache, queries: QuerySet, batch_size: int = 512):
    """Query embeddings of every query and the database embeddings of the split, in host memory."""
    rows = queries.database_rows()
    database = torch.cat([retriever.embed_images(cache, rows[i: i + batch_size])
                          for i in range(0, len(rows), batch_size)])
    index = np.arange(len(queries.frame))
    query = torch.cat([retriever.embed_queries(cache, queries, index[i: i + batch_size])
                       for i in range(0, len(index), batch_size)])
    return query.cpu(), database.cpu(), rows


def top1(retriever: Retriever, cache: FeatureCache, queries: QuerySet) -> float:
    """The share of queries whose target is the database image closest to the query."""
    query, database, rows = embed_all(retriever, cache, queries)
    return float(np.mean(rank_queries(query, database, rows, queries.target_rows)[0] == 0))


def split_object_recall(cache: FeatureCache, split: str) -> float | None:
    """The frozen backbone's zero-shot object recall@k on a split's images, from the cache (None when the split
    does not record its images' objects, as a team's own data does not)."""
    images = cache.images[(cache.images.split == split) & cache.images.objects.notna()]
    if images.empty:
        return None
    objects = cache.texts[cache.texts.kind == "object"]
    index = {text: i for i, text in enumerate(objects.text)}
    present = [[index[object_phrase(name)] for name in names] for names in images.objects]
    return object_recall_at_k(cache.embeddings(images.row.to_numpy()), cache.text_embeddings[objects.row.to_numpy()],
                              present)
