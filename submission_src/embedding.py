"""What the judge's `encode_queries(df)` and `encode_database(df)` do: float32 arrays, one L2-normalised row per row.

Never downloads anything and never raises for a bad row: a missing, unreadable, empty, truncated or non-image file
(or a name that is not a path at all) and text that is not a string still get a finite unit row, and a warning
names the rows. When most rows of one call cannot be read, the warning says so loudly (the share, the first rows,
where relative names were looked for) instead of raising: an exception would cost every row of the call, a
warning costs only the rows that are bad. A missing column is the one error: it is raised, naming the column.
"""
from __future__ import annotations

import math
import os
import sys
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

from .deployed import DeployedModel
from .images import search_roots
from .phrases import phrase_sums

CHUNK = 32  # images per decode task: small, so that every thread is busy from the first batch on
PENDING_IMAGES = 512  # decoded images waiting for the device at most (512 px renders: ~400 MB, pinned on CUDA)
MOSTLY_UNREADABLE = 0.5  # share of a call's rows past which the warning is loud
CGROUP_CPU_FILES = ("/sys/fs/cgroup/cpu.max", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us")  # cgroup v2, v1


@lru_cache(maxsize=None)
def deployed(weights: Path) -> DeployedModel:
    """The model of the `weights.pth` at `weights`, loaded once per process."""
    return DeployedModel.load(weights)


def _require(df: pd.DataFrame, columns: list[str]) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise KeyError(f"missing column(s): {', '.join(missing)} (got: {', '.join(map(str, df.columns))})")


def _shown(rows: list[int]) -> str:
    return ", ".join(map(str, rows[:10])) + (f" … and {len(rows) - 10} more" if len(rows) > 10 else "")


def _warn_rows(kind: str, rows: list[int], total: int) -> None:
    if not rows:
        return
    if len(rows) > MOSTLY_UNREADABLE * total and kind == "unreadable images":
        message = (f"{len(rows)} of {total} rows ({100 * len(rows) / total:.0f} %) have unreadable images and got a "
                   f"placeholder embedding, so their retrieval is meaningless: rows {_shown(rows)}. Relative names "
                   f"were looked for under {', '.join(map(str, search_roots()))}; pass absolute paths, or run from "
                   "the folder that holds the images")
        print(f"WARNING: {message}", file=sys.stderr)  # also where a harness silences warnings
        warnings.warn(message, RuntimeWarning, stacklevel=3)
    else:
        warnings.warn(f"{len(rows)} row(s) with {kind} got a placeholder embedding: rows {_shown(rows)}",
                      stacklevel=3)


def cpu_quota(files: tuple[str, ...] = CGROUP_CPU_FILES) -> float | None:
    """The CPUs the process's cgroup lets it use (a container's quota), or None when it sets none."""
    for path in files:
        try:
            fields = Path(path).read_text().split()
            if path.endswith("cpu.max"):
                quota, period = fields[0], fields[1]
            else:
                quota, period = fields[0], Path(path).with_name("cpu.cfs_period_us").read_text().split()[0]
            if quota not in ("max", "-1") and float(period) > 0:
                return float(quota) / float(period)
        except (OSError, IndexError, ValueError):
            continue
    return None


def usable_cores() -> int:
    """Cores this process may really run on: its CPU affinity, capped by its cgroup's quota."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = cpu_quota()
    return max(1, min(cores, math.ceil(quota)) if quota else cores)


def _decode_threads(chunks: int) -> int:
    return max(1, min(chunks, usable_cores() - 1))  # one core is left to the thread that feeds the device


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


def _on_device(model: DeployedModel, flat: torch.Tensor, shapes: torch.Tensor) -> torch.Tensor:
    """Resized, normalised pixels on the model's device; a device out of memory resizes on the host instead."""
    try:
        return model.pixels(flat.to(model.device, non_blocking=True), shapes)
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        return model.pixels(flat, shapes).to(model.device)


def pixel_batches(names: list, model: DeployedModel) -> Iterator[tuple[torch.Tensor, list[int]]]:
    """Normalised pixel batches on the model's device, each (but the last) at least one encoder batch, with the
    rows among them that could not be read. Threads decode ahead while the device works, never more than
    PENDING_IMAGES images ahead."""
    chunks = [names[start: start + CHUNK] for start in range(0, len(names), CHUNK)]
    threads = _decode_threads(len(chunks))
    decoded = _prefetched(lambda chunk: model.pixels.decode_chunk(chunk, pin=model.device.startswith("cuda")),
                          chunks, threads, depth=max(1, min(4 * threads, PENDING_IMAGES // CHUNK)))
    pending, bad = [], []
    for index, (flat, shapes, ok) in enumerate(decoded):
        bad += [index * CHUNK + i for i in (~ok).nonzero().flatten().tolist()]
        pending.append(_on_device(model, flat, shapes))
        if sum(map(len, pending)) >= model.image_batches.size or index == len(chunks) - 1:
            yield torch.cat(pending), bad
            pending, bad = [], []


def _image_key(name) -> str | None:
    """What identifies an image file across rows: its path as text (str or any os.PathLike), else None."""
    try:
        return os.fsdecode(name) if isinstance(name, (str, bytes, os.PathLike)) else None
    except (TypeError, ValueError):
        return None


@torch.no_grad()
def _encode_images(names: list, model: DeployedModel) -> torch.Tensor:
    """Image embeddings, each distinct file decoded and encoded once (references recur across queries); warns
    about unreadable rows."""
    rows_to_unique, unique = pd.factorize(pd.Series([_image_key(n) for n in names], dtype=object),
                                          use_na_sentinel=False)

    def encode(pixels: torch.Tensor) -> torch.Tensor:
        return F.normalize(model.backbone.clip.encode_image(pixels).float(), dim=-1)

    embeddings, bad = [], []
    for pixels, unreadable in pixel_batches(list(unique), model):
        embeddings += model.image_batches(encode, pixels)
        bad += unreadable
    _warn_rows("unreadable images", np.flatnonzero(np.isin(rows_to_unique, bad)).tolist(), len(names))
    return torch.cat(embeddings)[torch.from_numpy(rows_to_unique).to(model.device)]


def _finite_rows(array: torch.Tensor) -> np.ndarray:
    array = torch.nan_to_num(array.float(), nan=0.0, posinf=0.0, neginf=0.0)
    zero = array.norm(dim=1) == 0
    array[zero, 0] = 1.0  # a row that collapsed to zero still has to be a unit vector
    return F.normalize(array, dim=-1).cpu().numpy().astype(np.float32)


def encode_database(df: pd.DataFrame, model: DeployedModel) -> np.ndarray:
    """One L2-normalised float32 row per row of `df`, from its `target_image` file."""
    _require(df, ["target_image"])
    if len(df) == 0:
        return np.zeros((0, model.dim), np.float32)
    return _finite_rows(_encode_images(df["target_image"].tolist(), model))


@torch.no_grad()
def encode_queries(df: pd.DataFrame, model: DeployedModel) -> np.ndarray:
    """One L2-normalised float32 row per row of `df`, from its `query_image` and `query_text`."""
    _require(df, ["query_image", "query_text"])
    if len(df) == 0:
        return np.zeros((0, model.dim), np.float32)
    names, texts = df["query_image"].tolist(), df["query_text"].tolist()
    _warn_rows("text that is not a string", [i for i, t in enumerate(texts) if not isinstance(t, str)], len(df))
    images = _encode_images(names, model).to(model.device)
    clean = [t if isinstance(t, str) else "" for t in texts]
    parsed = model.tagger.parse(clean)
    encode_text = lambda batch: model.backbone.encode_text(batch).float()  # noqa: E731
    add, remove = phrase_sums(parsed, lambda phrases: torch.cat(model.text_batches(encode_text, phrases)),
                              model.dim, model.device)
    # The whole text is encoded only for an adapter that reads it.
    text_vectors = (torch.cat(model.text_batches(encode_text, clean)) if model.adapter.config["text"]
                    else torch.zeros_like(images))
    return _finite_rows(model.adapter(images, add, remove, text_vectors))
