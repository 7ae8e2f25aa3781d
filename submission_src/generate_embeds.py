"""The judge's entry points: `encode_queries(df)` and `encode_database(df)` -> float32 arrays, one row per row.

Loads `weights.pth` beside this file once. Never downloads anything. Bad rows (a missing, empty, truncated or
non-image file; text that is not a string) still get a finite, L2-normalised row, and a warning names them.
A missing column is the one error: it is raised, naming the column.
"""
from __future__ import annotations

import os
import warnings
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from model import DeployedModel
from phrases import phrase_sums
from weights import WEIGHTS_NAME

HERE = Path(__file__).resolve().parent
WEIGHTS = HERE / WEIGHTS_NAME
CHUNK = 32  # images per decode task: small, so that every thread is busy from the first batch on


@lru_cache(maxsize=1)
def _model() -> DeployedModel:
    return DeployedModel(WEIGHTS)


def _require(df: pd.DataFrame, columns: list[str]) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise KeyError(f"missing column(s): {', '.join(missing)} (got: {', '.join(map(str, df.columns))})")


def _warn_rows(kind: str, rows: list[int]) -> None:
    if rows:
        shown = ", ".join(map(str, rows[:10])) + (f" … and {len(rows) - 10} more" if len(rows) > 10 else "")
        warnings.warn(f"{len(rows)} row(s) with {kind} got a placeholder embedding: rows {shown}", stacklevel=3)


def _decode_threads(chunks: int) -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(chunks, cores - 1))  # one core is left to the thread that feeds the device


def _prefetched(fn, items: list, threads: int, depth: int) -> Iterator:
    """fn(item) for each item, in order, computed by `threads` threads at most `depth` items ahead (so memory
    stays bounded however slow the consumer)."""
    pool, pending = ThreadPoolExecutor(threads), deque()
    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= depth:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def pixel_batches(names: list, model: DeployedModel) -> Iterator[tuple[torch.Tensor, list[int]]]:
    """Normalised pixel batches on the model's device, each (but the last) at least one encoder batch, with the
    rows among them that could not be read. Threads decode ahead while the device works."""
    chunks = [names[start: start + CHUNK] for start in range(0, len(names), CHUNK)]
    threads = _decode_threads(len(chunks))
    decoded = _prefetched(lambda chunk: model.pixels.decode_chunk(chunk, pin=model.device == "cuda"), chunks,
                          threads, depth=4 * threads)
    pending, bad = [], []
    for index, (flat, shapes, ok) in enumerate(decoded):
        bad += [index * CHUNK + i for i in (~ok).nonzero().flatten().tolist()]
        pending.append(model.pixels(flat.to(model.device, non_blocking=True), shapes))
        if sum(map(len, pending)) >= model.image_batches.size or index == len(chunks) - 1:
            yield torch.cat(pending), bad
            pending, bad = [], []


@torch.no_grad()
def _encode_images(names: list) -> torch.Tensor:
    """Image embeddings, each distinct file decoded and encoded once (references recur across queries); warns
    about unreadable rows."""
    model = _model()
    rows_to_unique, unique = pd.factorize(pd.Series([n if isinstance(n, str) else None for n in names], dtype=object),
                                          use_na_sentinel=False)

    def encode(pixels: torch.Tensor) -> torch.Tensor:
        return F.normalize(model.backbone.clip.encode_image(pixels).float(), dim=-1)

    embeddings, bad = [], []
    for pixels, unreadable in pixel_batches(list(unique), model):
        embeddings += model.image_batches(encode, pixels)
        bad += unreadable
    _warn_rows("unreadable images", np.flatnonzero(np.isin(rows_to_unique, bad)).tolist())
    return torch.cat(embeddings)[torch.from_numpy(rows_to_unique).to(model.device)]


def _finite_rows(array: torch.Tensor) -> np.ndarray:
    array = torch.nan_to_num(array.float(), nan=0.0, posinf=0.0, neginf=0.0)
    zero = array.norm(dim=1) == 0
    array[zero, 0] = 1.0  # a row that collapsed to zero still has to be a unit vector
    return F.normalize(array, dim=-1).cpu().numpy().astype(np.float32)


def encode_database(df: pd.DataFrame) -> np.ndarray:
    """One L2-normalised float32 row per row of `df`, from its `target_image` file."""
    _require(df, ["target_image"])
    model = _model()
    if len(df) == 0:
        return np.zeros((0, model.dim), np.float32)
    return _finite_rows(_encode_images(df["target_image"].tolist()))


@torch.no_grad()
def encode_queries(df: pd.DataFrame) -> np.ndarray:
    """One L2-normalised float32 row per row of `df`, from its `query_image` and `query_text`."""
    _require(df, ["query_image", "query_text"])
    model = _model()
    if len(df) == 0:
        return np.zeros((0, model.dim), np.float32)
    names, texts = df["query_image"].tolist(), df["query_text"].tolist()
    _warn_rows("text that is not a string", [i for i, t in enumerate(texts) if not isinstance(t, str)])
    images = _encode_images(names).to(model.device)
    clean = [t if isinstance(t, str) else "" for t in texts]
    parsed = model.parser.parse(clean)
    encode_text = lambda batch: model.backbone.encode_text(batch).float()  # noqa: E731
    add, remove = phrase_sums(parsed, lambda phrases: torch.cat(model.text_batches(encode_text, phrases)),
                              model.dim, model.device)
    text_vectors = torch.cat(model.text_batches(encode_text, clean))
    return _finite_rows(model.adapter(images, add, remove, text_vectors))
