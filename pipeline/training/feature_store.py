"""The feature cache on disk: its Zarr layout, its writer and its one reader.

`<cache>/features.zarr` holds `image_embeddings`, `tail_inputs` (the visual activations entering the last K
units, fp16, in row blocks of at most `TAIL_CHUNK_BYTES`, so training can stream them a block at a time:
pipeline/training/batches.py) and `text_embeddings`; `images.parquet` and `texts.parquet` beside it say which row
is which.
`StoreWriter` builds it under a `.partial` name in whole chunks, each leaving a marker when written (by one process,
or by the ranks of a torchrun job): a killed run resumes at the chunks without one, and the finished store appears
by one atomic rename, so a reader never sees it half written. `FeatureCache` is its one reader: training,
evaluation and analysts alike.
"""
from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import zarr

STORE_NAME = "features.zarr"
STORE_FORMAT = 2  # 2: fp16 tail inputs in bounded row blocks, rows in reference-group order
TAIL_CHUNK_BYTES = 32 << 20  # a bigger block would make a streamed read hold more than it needs
TEXT_CHUNK = 4096


def row_bytes(array: zarr.Array) -> int:
    return math.prod(array.shape[1:]) * array.dtype.itemsize


def torch_dtype(array: zarr.Array) -> torch.dtype:
    return torch.from_numpy(np.empty(0, array.dtype)).dtype


def read_overhead_bytes(array: zarr.Array) -> int:
    """What a read holds besides its destination: one stored block decoded and the rows taken from it."""
    return 2 * array.chunks[0] * row_bytes(array)


def read_rows(array: zarr.Array, rows: np.ndarray, out: torch.Tensor | None = None) -> torch.Tensor:
    """`array[rows]` for sorted unique `rows`, read one stored block at a time (each block touched once), into
    `out` (its first len(rows) rows) or a new tensor."""
    if out is None:
        out = torch.empty((len(rows), *array.shape[1:]), dtype=torch_dtype(array))
    block = array.chunks[0]
    starts = np.flatnonzero(np.diff(rows // block, prepend=-1))
    for begin, end in zip(starts, [*starts[1:], len(rows)]):
        span = array[rows[begin]: rows[end - 1] + 1]
        if len(span) != end - begin:  # rows missing from the span: keep those asked for
            span = span[rows[begin:end] - rows[begin]]
        out[begin:end].numpy()[:] = span  # a copy: the store's arrays are read-only
    return out[: len(rows)]


def read_any_rows(array: zarr.Array, rows: np.ndarray) -> torch.Tensor:
    """`array[rows]` for rows in any order, repeats allowed."""
    unique, inverse = np.unique(rows, return_inverse=True)
    return read_rows(array, unique)[torch.from_numpy(inverse.reshape(-1))]


def tail_chunk_rows(chunk: int, row_bytes: int) -> int:
    """Rows per stored block of tail inputs: `chunk` halved until a block is at most TAIL_CHUNK_BYTES (it still
    divides `chunk`, so ranks writing whole extraction chunks never share a block)."""
    rows = chunk
    while rows % 2 == 0 and rows * row_bytes > TAIL_CHUNK_BYTES:
        rows //= 2
    return rows


class StoreWriter:
    """Writes a store in `out_dir` chunk by chunk (`chunk` images each); `publish` makes it appear.

    Chunk c holds rows c·chunk … (c + 1)·chunk − 1; each written chunk leaves a marker, so any writer, in any
    process, knows which chunks are still to do.
    """

    def __init__(self, out_dir: Path, chunk: int):
        self.out_dir, self.chunk = Path(out_dir), chunk
        self.final = self.out_dir / STORE_NAME
        self.partial = self.out_dir / (STORE_NAME + ".partial")
        self.done_dir = self.out_dir / "chunks_done"
        self.store: zarr.Group | None = None

    @property
    def resumable(self) -> bool:
        """A partial store with its markers is there: writing goes on where it stopped."""
        return self.partial.exists() and self.done_dir.exists()

    def create(self, images: int, texts: int, embed_dim: int, activation_shape: tuple[int, ...], dtype,
               attrs: dict) -> None:
        """A new, empty partial store (any earlier partial one is dropped); `dtype`: the embeddings' dtype."""
        shutil.rmtree(self.partial, ignore_errors=True)
        shutil.rmtree(self.done_dir, ignore_errors=True)
        store = zarr.open_group(self.partial, mode="w")
        store.create_array("image_embeddings", shape=(images, embed_dim), chunks=(self.chunk, embed_dim), dtype=dtype)
        block = tail_chunk_rows(self.chunk, 2 * math.prod(activation_shape))
        store.create_array("tail_inputs", shape=(images, *activation_shape), chunks=(block, *activation_shape),
                           dtype=np.float16)
        store.create_array("text_embeddings", shape=(texts, embed_dim), chunks=(TEXT_CHUNK, embed_dim), dtype=dtype)
        store.attrs.update({**attrs, "complete": False})
        self.done_dir.mkdir(parents=True)

    def open(self) -> None:
        self.store = zarr.open_group(self.partial, mode="r+")

    def pending(self, rank: int = 0, world_size: int = 1) -> list[int]:
        """The chunks of rank `rank` out of `world_size` (r, r + W, …) that have no marker yet."""
        chunks = math.ceil(self.store["image_embeddings"].shape[0] / self.chunk)
        return [c for c in range(rank, chunks, world_size) if not (self.done_dir / str(c)).exists()]

    def rows(self, chunks: list[int]) -> list[int]:
        total = self.store["image_embeddings"].shape[0]
        return [row for c in chunks for row in range(c * self.chunk, min(total, (c + 1) * self.chunk))]

    def write_chunk(self, index: int, tail_inputs: np.ndarray, embeddings: np.ndarray) -> None:
        start = index * self.chunk
        self.store["tail_inputs"][start: start + len(tail_inputs)] = tail_inputs
        self.store["image_embeddings"][start: start + len(embeddings)] = embeddings
        (self.done_dir / str(index)).touch()

    def write_texts(self, start: int, embeddings: np.ndarray) -> None:
        self.store["text_embeddings"][start: start + len(embeddings)] = embeddings

    def publish(self, images: pd.DataFrame, texts: pd.DataFrame) -> Path:
        """The index tables beside the store, then the store under its final name, by one rename."""
        images.to_parquet(self.out_dir / "images.parquet", index=False)
        texts.to_parquet(self.out_dir / "texts.parquet", index=False)
        self.store.attrs["complete"] = True
        os.replace(self.partial, self.final)
        shutil.rmtree(self.done_dir)
        return self.final


@dataclass
class FeatureCache:
    """The one reader of a store `extract` wrote: training, evaluation and analysts (`frames`) read through it."""

    images: pd.DataFrame
    texts: pd.DataFrame
    image_embeddings: torch.Tensor
    text_embeddings: torch.Tensor
    store: zarr.Group
    memory_bytes: int  # host memory the tail inputs may take (train.memory_gb)
    _resident_tail: torch.Tensor | None = None

    @classmethod
    def open(cls, out_dir: Path, memory_gb: float = 8.0) -> "FeatureCache":
        """The store `extract` wrote in `out_dir`; `memory_gb`: host memory its tail inputs may take."""
        store = zarr.open_group(out_dir / STORE_NAME, mode="r")
        return cls(pd.read_parquet(out_dir / "images.parquet"), pd.read_parquet(out_dir / "texts.parquet"),
                   torch.from_numpy(store["image_embeddings"][:]).float(),
                   torch.from_numpy(store["text_embeddings"][:]).float(), store, int(memory_gb * 1e9))

    def embeddings(self, rows: np.ndarray) -> torch.Tensor:
        return self.image_embeddings[rows]

    @cached_property
    def tail_array(self) -> zarr.Array:
        """The stored tail inputs (opened once: each opening reads its metadata from disk)."""
        return self.store["tail_inputs"]

    @property
    def tail_bytes(self) -> int:
        """The tail inputs' size in host memory (the store holds them compressed)."""
        return self.tail_array.shape[0] * row_bytes(self.tail_array)

    @property
    def tail_resident(self) -> bool:
        return self.tail_bytes <= self.memory_bytes

    def tail_inputs(self, rows: np.ndarray) -> torch.Tensor:
        """The fp16 activations of cache `rows`: from host memory when the whole array fits the budget (read
        once, as batches pick rows all over the store), else from the store."""
        if self._resident_tail is None and self.tail_resident:
            self._resident_tail = read_rows(self.tail_array, np.arange(self.tail_array.shape[0]))
        if self._resident_tail is None:
            return read_any_rows(self.tail_array, rows)
        return self._resident_tail[torch.tensor(rows)]

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Images and texts as DataFrames, each row with its `embedding` (a numpy vector): for analysts."""
        images, texts = self.images.copy(), self.texts.copy()
        images["embedding"] = list(self.image_embeddings.numpy())
        texts["embedding"] = list(self.text_embeddings.numpy())
        return images, texts
