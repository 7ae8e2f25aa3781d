"""Training on the feature cache: fusion modules (adapter, combiner) and the unfrozen visual tail.

Every batch holds whole reference groups, so each query meets its sibling targets (the same reference, another
edit) as negatives, next to the other targets of the batch and its own reference image; the query's own target
image is no negative, whichever column holds it. Which batches (shuffled or linked groups), and where their
features come from (host memory, or a store bigger than `train.memory_gb` streamed in windows), is planned in
pipeline/training/batches.py.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from pipeline.data.dataset import SplitSource
from pipeline.training.batches import BatchPlan
from pipeline.training.feature_store import FeatureCache
from pipeline.training.lean_forward import lean_forward
from pipeline.training.precision import bf16_autocast
from pipeline.training.schedule import one_cycle
from submission_src.backbone import Backbone
from submission_src.phrases import phrase_sums
from submission_src.tagger import QueryTagger

log = logging.getLogger(__name__)


@dataclass
class QuerySet:
    """One split's queries as tensors over the cache: reference/target rows, text and parsed-phrase embeddings."""

    frame: pd.DataFrame  # query_image, query_text, target_image, add, remove, reference_row, target_row
    texts: torch.Tensor
    add: torch.Tensor
    remove: torch.Tensor
    database: np.ndarray  # cache rows of the split's database: its targets and distractors

    @property
    def reference_rows(self) -> np.ndarray:
        return self.frame.reference_row.to_numpy()

    @property
    def target_rows(self) -> np.ndarray:
        return self.frame.target_row.to_numpy()

    @property
    def reference_ids(self) -> np.ndarray:
        """Which image each reference is, whatever view of it the query shows (its first view's cache row)."""
        return self.frame.get("reference_id", self.frame.reference_row).to_numpy()

    @property
    def target_ids(self) -> np.ndarray:
        return self.frame.get("target_id", self.frame.target_row).to_numpy()

    @property
    def groups(self) -> list[np.ndarray]:
        """Query indices by reference image, in order of first appearance."""
        return list(self.frame.groupby("query_image", sort=False).indices.values())

    def database_rows(self) -> np.ndarray:
        """The judge's database: the split's unique target images and its distractors."""
        return np.unique(self.database)

    def reference_groups(self, share: float, seed: int) -> "QuerySet":
        """The queries of a random `share` of the reference images (whole groups: siblings stay together)."""
        groups = list(self.frame.groupby("query_image", sort=True).indices.values())
        chosen = np.random.default_rng(seed).permutation(len(groups))[: max(1, round(share * len(groups)))]
        index = np.sort(np.concatenate([groups[i] for i in chosen]))
        frame = self.frame.iloc[index].reset_index(drop=True)
        return QuerySet(frame, self.texts[index], self.add[index], self.remove[index], frame.target_row.to_numpy())

    def with_views(self, images: pd.DataFrame) -> "QuerySet":
        """Every query again in each other view of its images that the cache's `images` table holds (the same
        text and phrases over that view's rows), in the same reference group. `reference_id` and `target_id` keep
        which image each row shows, so that no view of a query's own target is taken for its negative."""
        others = images[images.view > 0]
        if others.empty:
            return self
        first = images[images.view == 0].set_index("path").row
        view_row = dict(zip(zip(others.path.map(first), others.view), others.row))
        base = self.frame.assign(reference_id=self.frame.reference_row, target_id=self.frame.target_row, view=0)
        frames = [base] + [base.assign(view=view, reference_row=[view_row.get((r, view), r) for r in base.reference_id],
                                       target_row=[view_row.get((r, view), r) for r in base.target_id])
                           for view in sorted(others.view.unique())]
        count = len(frames)
        return QuerySet(pd.concat(frames, ignore_index=True), self.texts.repeat(count, 1), self.add.repeat(count, 1),
                        self.remove.repeat(count, 1), self.database)


@torch.no_grad()
def build_query_set(cache: FeatureCache, source: SplitSource, tagger: QueryTagger, backbone: Backbone) -> QuerySet:
    """The split's queries over the cache (images found by path, so a split may share another's images)."""
    frame = source.load()
    image_rows = cache.images[cache.images.view == 0].set_index("path").row
    def rows_of(names: pd.Series) -> np.ndarray:
        return pd.Series([str(Path(source.images) / n) for n in names]).map(image_rows).to_numpy()
    text_rows = cache.texts.set_index("text").row
    parsed = tagger.parse(frame.query_text.tolist())
    frame = frame.assign(add=[p.add for p in parsed], remove=[p.remove for p in parsed],
                         reference_row=rows_of(frame.query_image), target_row=rows_of(frame.target_image))
    add, remove = phrase_sums(parsed, backbone.encode_text, cache.image_embeddings.shape[1])
    return QuerySet(frame, cache.text_embeddings[frame.query_text.map(text_rows).to_numpy(copy=True)], add, remove,
                    rows_of(pd.Series(source.database_images(frame), dtype=object)))


def contrastive_loss(queries: torch.Tensor, targets: torch.Tensor, references: torch.Tensor,
                     logit_scale: torch.Tensor, target_images: np.ndarray | None = None,
                     reference_images: np.ndarray | None = None,
                     remembered: torch.Tensor | None = None) -> torch.Tensor:
    """InfoNCE of each query against the batch's targets (siblings among them) and its own reference image.

    `target_images`, `reference_images` (which image each of the batch's targets and references is:
    QuerySet.target_ids, one for every view of an image): a candidate that is the query's own target image is no
    negative, only its own column counts: another query's copy of it (a target several references reach, or the
    same target in another view), or another query's reference (an inverse edit in the same batch). `remembered`:
    more negatives, none of them an image of the batch (a NegativeMemory's).
    """
    candidates = torch.cat([targets, references] + ([remembered] if remembered is not None else []))
    logits = logit_scale.exp() * queries @ candidates.T
    if target_images is not None:
        rows = [torch.as_tensor(r, device=logits.device) for r in (target_images, reference_images) if r is not None]
        same = rows[0][:, None] == torch.cat(rows)[None, :]
        same[:, : len(rows[0])].fill_diagonal_(False)
        logits[:, : same.shape[1]] = logits[:, : same.shape[1]].masked_fill(same, float("-inf"))
    return F.cross_entropy(logits, torch.arange(len(queries), device=logits.device))


class NegativeMemory:
    """The embeddings of the last `size` distinct images of earlier batches, detached: negatives that cost no pass
    through the tail (a cross-batch memory, Wang et al. 2020), so a batch of few linked scenes still meets many
    unrelated ones. Embeddings a few steps old stand in for today's: the tail moves little between steps."""

    def __init__(self, size: int):
        self.size = size
        self.embeddings: torch.Tensor | None = None
        self.rows = np.empty(0, dtype=np.int64)

    def negatives(self, batch_rows: np.ndarray) -> torch.Tensor | None:
        """The remembered embeddings of images outside the batch (None when it holds none)."""
        if self.embeddings is None:
            return None
        outside = torch.as_tensor(~np.isin(self.rows, batch_rows), device=self.embeddings.device)
        return self.embeddings[outside] if outside.any() else None

    def remember(self, embeddings: torch.Tensor, rows: np.ndarray) -> None:
        """Adds the batch's images (each row once, the newest copy kept), dropping the oldest beyond `size`."""
        rows = np.concatenate([self.rows, rows])
        embeddings = embeddings.detach() if self.embeddings is None else torch.cat([self.embeddings,
                                                                                     embeddings.detach()])
        newest = len(rows) - 1 - np.unique(rows[::-1], return_index=True)[1]
        keep = np.sort(newest)[-self.size:]
        self.rows, self.embeddings = rows[keep], embeddings[torch.as_tensor(keep, device=embeddings.device)]


class Retriever(nn.Module):
    """What a method needs to score queries: a fusion module and, optionally, the trainable visual tail."""

    def __init__(self, fusion: nn.Module, backbone: Backbone | None = None, tail_blocks: int = 0):
        super().__init__()
        self.fusion, self.backbone, self.tail_blocks = fusion, backbone, tail_blocks
        self.logit_scale = nn.Parameter(torch.tensor(np.log(20.0), dtype=torch.float32))

    @property
    def device(self) -> torch.device:
        return self.logit_scale.device

    def parameter_groups(self, lr: float, tower_lr_scale: float = 1.0) -> list[dict]:
        """The trainable parameters for the optimiser: the retrained visual blocks at `lr` × `tower_lr_scale`,
        everything else (fusion, head, temperature) at `lr`."""
        tower = set()
        if self.backbone is not None and self.tail_blocks and tower_lr_scale != 1.0:
            head = set(self.backbone.tail_parameters(0))
            tower = {id(p) for name, p in self.backbone.tail_parameters(self.tail_blocks).items() if name not in head}
        trainable = [p for p in self.parameters() if p.requires_grad]
        groups = [{"params": [p for p in trainable if id(p) not in tower], "lr": lr},
                  {"params": [p for p in trainable if id(p) in tower], "lr": lr * tower_lr_scale}]
        return [group for group in groups if group["params"]]

    def embed_images(self, cache: FeatureCache, rows: np.ndarray) -> torch.Tensor:
        if self.backbone is None:
            return cache.embeddings(rows).to(self.device, non_blocking=True)
        activations = cache.tail_inputs(rows).to(self.device, non_blocking=True).float()
        if activations.ndim == 4:
            activations = activations.contiguous(memory_format=torch.channels_last)
        with lean_forward(self.backbone):  # the same function with less work (batch norms are frozen)
            return F.normalize(self.backbone.tail(activations, self.tail_blocks).float(), dim=-1)

    def embed_references_and_targets(self, cache: FeatureCache, queries: QuerySet, index: np.ndarray
                                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """The reference and target embeddings of the queries at `index`, each distinct image passed once: a
        batch grouped by reference repeats its references, and a target is often another query's reference
        (about a third of the tail's passes saved; batch norm is frozen, so the result is the same)."""
        rows = np.concatenate([queries.reference_rows[index], queries.target_rows[index]])
        distinct, position = np.unique(rows, return_inverse=True)
        embedded = self.embed_images(cache, distinct)[torch.as_tensor(position, device=self.device)]
        return embedded[:len(index)], embedded[len(index):]

    def fuse(self, references: torch.Tensor, queries: QuerySet, index: np.ndarray) -> torch.Tensor:
        return self.fusion(references, *(t[index].to(self.device, non_blocking=True)
                                         for t in (queries.add, queries.remove, queries.texts)))

    def embed_queries(self, cache: FeatureCache, queries: QuerySet, index: np.ndarray) -> torch.Tensor:
        return self.fuse(self.embed_images(cache, queries.reference_rows[index]), queries, index)


def object_alignment_loss(references: torch.Tensor, targets: torch.Tensor, add: torch.Tensor, remove: torch.Tensor,
                          logit_scale: torch.Tensor) -> torch.Tensor:
    """Object labels from the edit alone: (A, +X -Y, B) says X is in B and not in A, Y in A and not in B. Each
    named side is a logistic ranking of the two images by their cosine to the sum of its phrases, so the image
    embeddings stay readable by the phrases (what Σ add − Σ remove needs) while the tail trains.

    Args:
        references, targets: [B, D] L2-normalised image embeddings of A and B.
        add, remove: [B, D] sums of the added / removed phrases' embeddings (zeros where the edit names none).
        logit_scale: log of the ranking's temperature inverse, shared with the contrastive loss.
    """
    losses = []
    for phrases, present, absent in ((add, targets, references), (remove, references, targets)):
        named = phrases.abs().sum(-1) > 0
        if named.any():
            direction = F.normalize(phrases[named].float(), dim=-1)
            margin = ((present[named] - absent[named]) * direction).sum(-1)
            losses.append(F.softplus(-logit_scale.exp() * margin).mean())
    return torch.stack(losses).sum() if losses else references.new_zeros(())


def train_retriever(retriever: Retriever, cache, queries: QuerySet, *, epochs: int, batch_size: int, lr: float,
                    weight_decay: float, seed: int, desc: str, max_batches: int | None = None,
                    device: str = "cpu", on_epoch: Callable[[dict], None] | None = None,
                    object_weight: float = 0.0, tower_lr_scale: float = 1.0, linked_batches: bool = False,
                    negative_memory: int = 0) -> list[dict]:
    """Trains in place on `device` (the cache stays in host memory; each batch moves once); `cache` is a
    FeatureCache or anything with its `embeddings`/`tail_inputs` methods. Tail inputs larger than the cache's
    memory budget are streamed: each epoch's batches are drawn window by window.

    `object_weight` adds the object alignment loss (0: InfoNCE alone); `tower_lr_scale` multiplies the learning
    rate of the retrained visual blocks (not the head, not the fusion); `linked_batches` packs groups that share
    images together (pipeline/training/batches.py); `negative_memory` > 0 adds that many images of earlier
    batches as negatives (NegativeMemory).

    `max_batches` stops each epoch early (for timing); its history then holds the scaled full-epoch seconds.
    `on_epoch` is called with each epoch's history row as soon as it is made (a training curve).
    """
    retriever.to(device)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    groups = retriever.parameter_groups(lr, tower_lr_scale)
    # One fused kernel per step instead of PyTorch's CPU default, a loop of elementwise passes per tensor: 7.1
    # against 20.4 ms a step for the stand-in's K = 4 tail (benchmarks/optimizer_step.py).
    optimizer = torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay, fused=True)
    plan = BatchPlan.for_cache(cache, queries, trains_tail=retriever.backbone is not None, batch_size=batch_size,
                               epochs=epochs, rng=rng, device=device, linked=linked_batches)
    batch_counts = plan.batch_counts
    scheduler = one_cycle(optimizer, [group["lr"] for group in groups], sum(batch_counts), pct_start=0.1)
    history = []
    memory = NegativeMemory(negative_memory) if negative_memory else None
    reference_ids, target_ids = queries.reference_ids, queries.target_ids  # once, not per batch
    retriever.train()
    if retriever.backbone is not None:
        retriever.backbone.eval()  # frozen batch-norm statistics; only the tail's weights learn
    started = time.time()
    for epoch in range(epochs):
        losses = []
        epoch_started = time.time()
        batches = plan.batches(epoch)
        timed = min(batch_counts[epoch], max_batches or batch_counts[epoch])
        for features, index in tqdm(islice(batches, timed), total=timed, desc=f"{desc} epoch {epoch + 1}/{epochs}",
                                    unit="batch", leave=False):
            with bf16_autocast(retriever.device, enabled=retriever.backbone is not None):
                reference, target = retriever.embed_references_and_targets(features, queries, index)
                query = retriever.fuse(reference, queries, index)
            images = np.concatenate([reference_ids[index], target_ids[index]])
            remembered = memory.negatives(images) if memory else None
            loss = contrastive_loss(query.float(), target.float(), reference.float(), retriever.logit_scale,
                                    target_ids[index], reference_ids[index], remembered)
            if object_weight:
                loss = loss + object_weight * object_alignment_loss(
                    reference.float(), target.float(), queries.add[index].to(retriever.device),
                    queries.remove[index].to(retriever.device), retriever.logit_scale)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            if memory:
                memory.remember(torch.cat([reference, target]).float(), images)
            losses.append(loss.item())
        batches.close()  # a stream cut short (max_batches) finishes its read before the next epoch reuses buffers
        epoch_seconds = (time.time() - epoch_started) * batch_counts[epoch] / timed
        history.append({"method": desc, "epoch": epoch + 1, "loss": float(np.mean(losses)),
                        "seconds": time.time() - started, "epoch_seconds": epoch_seconds})
        log.info("%s: epoch %d loss %.4f", desc, epoch + 1, history[-1]["loss"])
        if on_epoch:
            on_epoch(history[-1])
    retriever.eval()
    return history
