"""The training batch, planned in one place: batches of whole reference groups (each query meets its sibling
targets as negatives), drawn from a cache held in host memory or, for tail inputs larger than host memory,
streamed in windows that fit a budget, the next loading meanwhile. `BatchPlan` is the one interface the trainer
sees: each epoch's batches as (features, query indices), whichever way they are read.

Groups are packed shuffled, or linked: each group beside the groups that share its images (an augmented edit's
inverse starts from its target, a composed pair meets another edit at an image). A linked batch holds a few whole
scene families, so it passes each image through the tail once for several groups (the stand-in's training split:
2,172 passes an epoch instead of 7,699) and its negatives are fewer, and closer to the answer.

A window is a set of whole reference groups whose cache rows fit one of two host buffers; an epoch visits its
windows in random order and draws its batches inside each, while a thread reads the next window into the other
buffer. Host memory for the tail inputs is then two buffers and the stored block being read (decoded, and the
rows taken from it), whatever the number of images. The store keeps each reference image next to its targets
(pipeline/training/feature_store.py, which also reads them block by block), so a window's rows lie in few stored
blocks, each read once.
"""
from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
import zarr

from pipeline.training.feature_store import FeatureCache, read_overhead_bytes, read_rows, row_bytes, torch_dtype


def pack_groups(groups: list[np.ndarray], batch_size: int) -> list[np.ndarray]:
    """Consecutive groups packed into batches of at most `batch_size` items (a bigger group is a batch alone)."""
    batches, current = [], []
    for group in groups:
        if current and len(current) + len(group) > batch_size:
            batches.append(np.array(current))
            current = []
        current.extend(group)
    if current:
        batches.append(np.array(current))
    return batches


def linked_order(group_rows: list[np.ndarray], rng: np.random.Generator) -> list[int]:
    """Group indices walked depth first over shared cache rows, from random starts and through neighbours in random
    order: groups linked by images come as one run, and a group's neighbours follow it closely."""
    groups_of = defaultdict(list)
    for g, rows in enumerate(group_rows):
        for row in rows.tolist():
            groups_of[row].append(g)
    seen = np.zeros(len(group_rows), dtype=bool)
    order = []
    for start in rng.permutation(len(group_rows)):
        if seen[start]:
            continue
        seen[start] = True
        stack = [int(start)]
        while stack:
            g = stack.pop()
            order.append(g)
            neighbours = list(dict.fromkeys(n for row in group_rows[g].tolist() for n in groups_of[row] if not seen[n]))
            for n in rng.permutation(len(neighbours)):
                seen[neighbours[n]] = True
                stack.append(neighbours[n])
    return order


def arrange_groups(groups: list[np.ndarray], group_rows: list[np.ndarray], rng: np.random.Generator,
                   linked: bool) -> list[np.ndarray]:
    """The groups (query indices) in the order they are packed: linked (see `linked_order`) or shuffled."""
    order = linked_order(group_rows, rng) if linked else rng.permutation(len(groups))
    return [groups[g] for g in order]


def group_rows_of(queries) -> list[np.ndarray]:
    """Each reference group's cache rows (its reference and its targets); `queries`: a QuerySet."""
    return [np.unique(np.concatenate([queries.reference_rows[g], queries.target_rows[g]])) for g in queries.groups]


@dataclass
class Window:
    rows: np.ndarray | None  # the sorted cache rows it holds; None: everything is resident
    batches: list[np.ndarray]  # query indices


def plan_windows(groups: list[np.ndarray], group_rows: list[np.ndarray], capacity: int, batch_size: int,
                 rng: np.random.Generator, linked: bool = False) -> list[Window]:
    """One epoch: windows of whole groups (query indices) whose rows (`group_rows`) number at most `capacity`.

    Groups are taken in store order from a random starting group (so windows differ between epochs), windows are
    shuffled, and each window's groups are arranged (shuffled, or `linked`) before they are packed into batches.
    """
    too_big = [g for g, rows in enumerate(group_rows) if len(rows) > capacity]
    if too_big:
        raise ValueError(f"reference group {too_big[0]} needs {len(group_rows[too_big[0]])} cached rows; a window "
                         f"holds {capacity}: raise train.memory_gb")
    order = np.argsort([rows.min() for rows in group_rows], kind="stable")
    order = np.roll(order, -int(rng.integers(len(order))))
    windows, members, held = [], [], set()
    for g in order:
        fresh = set(group_rows[g].tolist()) - held
        if members and len(held) + len(fresh) > capacity:
            windows.append((members, held))
            members, held = [], set()
            fresh = set(group_rows[g].tolist())
        members.append(g)
        held |= fresh
    windows.append((members, held))
    plan = []
    for w in rng.permutation(len(windows)):
        members, held = windows[w]
        arranged = arrange_groups([groups[g] for g in members], [group_rows[g] for g in members], rng, linked)
        plan.append(Window(np.array(sorted(held)), pack_groups(arranged, batch_size)))
    return plan


class HeldRows:
    """The rows of one window in a host buffer, served by cache row like FeatureCache.tail_inputs."""

    def __init__(self, rows: np.ndarray, buffer: torch.Tensor):
        self.rows, self.buffer = rows, buffer

    def tail_inputs(self, rows: np.ndarray) -> torch.Tensor:
        local = np.searchsorted(self.rows, rows)
        if not (local < len(self.rows)).all() or not (self.rows[np.minimum(local, len(self.rows) - 1)] == rows).all():
            raise KeyError("a batch asked for cache rows outside its window")
        return self.buffer[torch.from_numpy(local)]


class WindowStream:
    """Two host buffers of `capacity` rows (see `rows_within`): a thread reads the next window into one while the
    other is trained on."""

    def __init__(self, array: zarr.Array, capacity: int, pin_memory: bool = False):
        self.array, self.capacity = array, capacity
        shape = (capacity, *array.shape[1:])
        self.buffers = [torch.empty(shape, dtype=torch_dtype(array), pin_memory=pin_memory) for _ in range(2)]

    @staticmethod
    def least_budget(array: zarr.Array, batch_size: int) -> int:
        """The smallest budget that streams: two windows of one batch (a reference and a target per query)."""
        return 2 * 2 * batch_size * row_bytes(array) + read_overhead_bytes(array)

    @staticmethod
    def rows_within(array: zarr.Array, budget_bytes: int, batch_size: int) -> int:
        """Rows per window that keep two buffers and a read within `budget_bytes`; a budget below `least_budget`
        stops here, naming it."""
        if budget_bytes < WindowStream.least_budget(array, batch_size):
            raise ValueError(f"train.memory_gb of {budget_bytes / 1e9:.3g} GB cannot stream batches of {batch_size} "
                             f"queries from this store: set it to at least "
                             f"{WindowStream.least_budget(array, batch_size) / 1e9:.3g}")
        return (budget_bytes - read_overhead_bytes(array)) // (2 * row_bytes(array))

    @property
    def nbytes(self) -> int:
        """Host bytes the stream holds (its buffers)."""
        return sum(b.numel() * b.element_size() for b in self.buffers)

    def _load(self, window: Window, slot: int) -> HeldRows:
        return HeldRows(window.rows, read_rows(self.array, window.rows, self.buffers[slot]))

    def batches(self, windows: list[Window]) -> Iterator[tuple[HeldRows, np.ndarray]]:
        """Each batch of each window with the window's rows; a window's buffer is refilled only once the caller
        has asked for the next window's first batch, so a HeldRows is valid until then."""
        with ThreadPoolExecutor(1, thread_name_prefix="tail-window") as reader:
            pending = reader.submit(self._load, windows[0], 0)
            for i, window in enumerate(windows):
                held = pending.result()
                if i + 1 < len(windows):
                    pending = reader.submit(self._load, windows[i + 1], (i + 1) % 2)
                for index in window.batches:
                    yield held, index


def reference_group_batches(queries, batch_size: int, rng: np.random.Generator,
                            linked: bool = False) -> list[np.ndarray]:
    """Query indices in batches of whole reference groups (siblings together), groups shuffled or `linked`;
    `queries`: a QuerySet (pipeline/training/retriever.py)."""
    return pack_groups(arrange_groups(queries.groups, group_rows_of(queries), rng, linked), batch_size)


def streamed_epochs(queries, capacity: int, batch_size: int, rng: np.random.Generator, epochs: int = 1,
                    linked: bool = False) -> list[list[Window]]:
    """Each epoch as windows of at most `capacity` cache rows, each with its batches of whole reference groups."""
    groups, rows = queries.groups, group_rows_of(queries)
    return [plan_windows(groups, rows, capacity, batch_size, rng, linked) for _ in range(epochs)]


def tail_stream(cache: FeatureCache, batch_size: int, device: str) -> WindowStream:
    """Windows of tail inputs within the cache's budget, for training on a store that does not fit it."""
    return WindowStream(cache.tail_array, WindowStream.rows_within(cache.tail_array, cache.memory_bytes, batch_size),
                        pin_memory=device.startswith("cuda"))


class BatchPlan:
    """Every epoch's batches of whole reference groups (shuffled, or `linked`), drawn up front from `rng`: resident
    (the features come from `cache` itself) or, when `streamed`, window by window through a WindowStream of the
    cache's tail inputs within its memory budget."""

    def __init__(self, cache, queries, *, batch_size: int, epochs: int, rng: np.random.Generator,
                 streamed: bool = False, device: str = "cpu", linked: bool = False):
        self.cache = cache
        self.stream = tail_stream(cache, batch_size, device) if streamed else None
        if self.stream:
            self.epochs = streamed_epochs(queries, self.stream.capacity, batch_size, rng, epochs, linked)
        else:
            self.epochs = [[Window(None, reference_group_batches(queries, batch_size, rng, linked))]
                           for _ in range(epochs)]

    @classmethod
    def for_cache(cls, cache, queries, *, trains_tail: bool, **kwargs) -> "BatchPlan":
        """Streamed when the tail trains on a FeatureCache whose tail inputs do not fit its budget; else resident
        (`cache` may then be anything with FeatureCache's `embeddings`/`tail_inputs`)."""
        streamed = trains_tail and isinstance(cache, FeatureCache) and not cache.tail_resident
        return cls(cache, queries, streamed=streamed, **kwargs)

    @property
    def batch_counts(self) -> list[int]:
        return [sum(len(window.batches) for window in windows) for windows in self.epochs]

    def batches(self, epoch: int) -> Iterator[tuple[object, np.ndarray]]:
        """(features, query indices) of each batch of `epoch`; close it when stopping early, so a stream finishes
        its read before the next epoch reuses its buffers."""
        windows = self.epochs[epoch]
        if self.stream:
            yield from self.stream.batches(windows)
        else:
            for index in windows[0].batches:
                yield self.cache, index
