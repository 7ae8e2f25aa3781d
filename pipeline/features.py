"""The feature cache: what the frozen backbone says about every image and text, computed once, kept in Zarr.

`cache/<key>/features.zarr` holds image embeddings, the visual activations entering the last K blocks (so the
tail can be retrained without the rest of the tower) and text embeddings; `images.parquet` and `texts.parquet`
beside it say which row is which. The activations, by far the largest array, are stored in fp16, in row blocks of
at most `TAIL_CHUNK_BYTES`, and each reference image is followed by its targets, so training can stream them a
block at a time (pipeline/streaming.py). `<key>` hashes architecture, weights, preprocessing, K, the dataset's
fingerprint, the text table and the store's format, so a changed backbone or dataset never reads stale features.
The store is built under a `.partial` name in whole chunks, each leaving a marker when written (by one process, or
by the ranks of a torchrun job); a killed run resumes at the chunks without one, and the finished store appears by
one atomic rename, so a reader never sees it half written. `FeatureCache` is its one reader: training, evaluation
and analysts (`open_cache`) alike.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import zarr
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from pipeline.catalog import load_catalog
from pipeline.dataset import SplitSource, load_manifest, manifest_fingerprint
from pipeline.paths import BOOTSTRAP_WEIGHTS, CACHE_ROOT
from submission_src.backbone import Backbone
from submission_src.images import load_rgb
from submission_src.phrases import object_phrase

STORE_NAME = "features.zarr"
STORE_FORMAT = 2  # 2: fp16 tail inputs in bounded row blocks, rows in reference-group order
TAIL_CHUNK_BYTES = 32 << 20  # a bigger block would make a streamed read hold more than it needs
FP16_MAX = float(np.finfo(np.float16).max)


@dataclass(frozen=True)
class FeatureSpec:
    model: str  # open_clip architecture name, or a model-config JSON path
    pretrained: str | None  # open_clip tag, checkpoint path, or 'bootstrap'
    tail_blocks: int

    @classmethod
    def from_params(cls, params: dict) -> "FeatureSpec":
        backbone = params["backbone"]
        return cls(backbone["model"], backbone["pretrained"], int(params["features"]["tail_blocks"]))

    @property
    def weights(self) -> str | None:
        return str(BOOTSTRAP_WEIGHTS) if self.pretrained == "bootstrap" else self.pretrained

    def load_backbone(self) -> Backbone:
        return Backbone.create(self.model, self.weights)

    def key(self, backbone: Backbone, data: str = "") -> str:
        """A hash of everything that changes the features: architecture, weights, preprocessing, K and the data
        (`data`: `data_fingerprint()`, the dataset's and the text table's)."""
        digest = hashlib.sha256()
        architecture = Path(self.model).read_text() if self.model.endswith(".json") else self.model
        weights = _file_digest(self.weights) if self.weights and Path(self.weights).is_file() else self.weights
        preprocess = json.dumps(backbone.clip.visual.preprocess_cfg, sort_keys=True, default=str)
        for part in (architecture, weights, preprocess, self.tail_blocks, data, STORE_FORMAT):
            digest.update(str(part).encode() + b"\0")
        return digest.hexdigest()[:16]


def _file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def image_table(splits: dict[str, SplitSource]) -> pd.DataFrame:
    """Every unique image of every split (path, split, objects when the split records them), one row each.

    Rows follow reference groups: each reference image, then its targets, then the split's distractors; so the
    rows one batch needs lie close together in the store.
    """
    rows = []
    for split, source in splits.items():
        frame = source.load()
        grouped = [name for reference, group in frame.groupby("query_image", sort=False)
                   for name in (reference, *group.target_image)]
        names = pd.unique(pd.Series(grouped + source.database_images(frame), dtype=object))
        scenes_path = Path(source.csv).parent / "scenes.parquet"
        objects = pd.read_parquet(scenes_path).set_index("image").objects if scenes_path.is_file() else None
        for name in names:
            rows.append({"path": str(Path(source.images) / name), "split": split, "image": name,
                         "objects": list(objects[name]) if objects is not None else None})
    table = pd.DataFrame(rows).drop_duplicates("path").reset_index(drop=True)
    table["row"] = np.arange(len(table))
    return table


def text_table(splits: dict[str, SplitSource]) -> pd.DataFrame:
    """Every text the later stages embed: query texts and one phrase per catalog object."""
    queries = pd.unique(pd.concat([source.load().query_text for source in splits.values()]))
    table = pd.concat([pd.DataFrame({"text": queries, "kind": "query"}),
                       pd.DataFrame({"text": [object_phrase(o.name) for o in load_catalog()], "kind": "object"})])
    table = table.drop_duplicates("text").reset_index(drop=True)
    table["row"] = np.arange(len(table))
    return table


def data_fingerprint() -> str:
    """What the cache's key takes from the data: the dataset stage's fingerprint (rows and image bytes) and the
    text table it embeds (query texts and the catalog's object phrases, which the data does not fix)."""
    texts = "\n".join(text_table(load_manifest()).text)
    return hashlib.sha1(f"{manifest_fingerprint()}\0{texts}".encode()).hexdigest()


class ImageFiles(Dataset):
    def __init__(self, paths: list[str], preprocess):
        self.paths, self.preprocess = paths, preprocess

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.preprocess(load_rgb(self.paths[i])[0])


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


def _barrier(world_size: int) -> None:
    if world_size > 1:
        torch.distributed.barrier()


@torch.no_grad()
def extract(backbone: Backbone, spec: FeatureSpec, images: pd.DataFrame, texts: pd.DataFrame, out_dir: Path,
            chunk: int = 256, workers: int = 2, device: str = "cpu", rank: int = 0, world_size: int = 1) -> Path:
    """Builds (or resumes) `out_dir/features.zarr`; returns its path.

    With `world_size` > 1 (torchrun: a process group must be initialised) rank r encodes chunks r, r + W, … into
    the same arrays — a shared filesystem for several nodes — and rank 0 finalises. Each finished chunk leaves a
    marker, so a killed run, with any number of ranks, resumes at the chunks without one.
    """
    final, partial = out_dir / STORE_NAME, out_dir / (STORE_NAME + ".partial")
    if final.exists():
        return final
    done_dir = out_dir / "chunks_done"
    half = device.startswith("cuda")
    backbone = backbone.to(device).eval()
    if half:
        backbone = backbone.half()
    dtype = np.float16 if half else np.float32
    if rank == 0 and not (partial.exists() and done_dir.exists()):
        probe = backbone.preprocess(Image.new("RGB", (32, 32))).unsqueeze(0).to(device, torch.float16 if half else None)
        activation_shape = tuple(backbone.trunk(probe, spec.tail_blocks).shape[1:])
        embed_dim = backbone.clip.encode_image(probe).shape[1]
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(done_dir, ignore_errors=True)
        store = zarr.open_group(partial, mode="w")
        store.create_array("image_embeddings", shape=(len(images), embed_dim), chunks=(chunk, embed_dim), dtype=dtype)
        activation_bytes = 2 * math.prod(activation_shape)
        store.create_array("tail_inputs", shape=(len(images), *activation_shape),
                           chunks=(tail_chunk_rows(chunk, activation_bytes), *activation_shape), dtype=np.float16)
        store.create_array("text_embeddings", shape=(len(texts), embed_dim), chunks=(4096, embed_dim), dtype=dtype)
        store.attrs.update({"tail_blocks": spec.tail_blocks, "model": spec.model, "pretrained": spec.pretrained,
                            "complete": False})
        done_dir.mkdir()
    _barrier(world_size)
    store = zarr.open_group(partial, mode="r+")

    chunks = [c for c in range(rank, math.ceil(len(images) / chunk), world_size)
              if not (done_dir / str(c)).exists()]
    rows = [row for c in chunks for row in range(c * chunk, min(len(images), (c + 1) * chunk))]
    # Batches are whole chunks: every chunk but the last of the store is full, and that one comes last here.
    loader = DataLoader(ImageFiles(images.path.iloc[rows].tolist(), backbone.preprocess), batch_size=chunk,
                        num_workers=workers, pin_memory=half)
    started = time.time()
    bar = tqdm(total=len(rows), desc=f"features: images (rank {rank}/{world_size})", unit="img")
    for c, pixels in zip(chunks, loader):
        pixels = pixels.to(device, torch.float16 if half else torch.float32, non_blocking=True)
        activations = backbone.trunk(pixels, spec.tail_blocks)
        embeddings = torch.nn.functional.normalize(backbone.tail(activations, spec.tail_blocks).float(), dim=-1)
        start = c * chunk
        peak = activations.abs().max().item()
        if not peak <= FP16_MAX:  # also catches NaN
            raise ValueError(f"features: activations entering the last {spec.tail_blocks} units reach {peak:.3g} "
                             f"in images {start}..{start + len(pixels) - 1} ({images.path.iloc[start]} …), beyond "
                             f"fp16's {FP16_MAX:.0f}; the store keeps them in fp16 — try another features.tail_blocks")
        store["tail_inputs"][start: start + len(pixels)] = activations.cpu().numpy().astype(np.float16)
        store["image_embeddings"][start: start + len(pixels)] = embeddings.cpu().numpy().astype(dtype)
        (done_dir / str(c)).touch()
        bar.update(len(pixels))
        bar.set_postfix(img_per_s=f"{bar.n / (time.time() - started):.1f}")
    bar.close()
    _barrier(world_size)
    if rank == 0:
        for start in tqdm(range(0, len(texts), 512), desc="features: texts", unit="batch"):
            batch = texts.text.iloc[start: start + 512].tolist()
            store["text_embeddings"][start: start + len(batch)] = backbone.encode_text(batch).float().cpu().numpy()
        images.to_parquet(out_dir / "images.parquet", index=False)
        texts.to_parquet(out_dir / "texts.parquet", index=False)
        store.attrs["complete"] = True
        os.replace(partial, final)
        shutil.rmtree(done_dir)
    _barrier(world_size)
    return final


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


def open_cache(key: str | None = None, root: Path = CACHE_ROOT) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cache as two pandas DataFrames, images and texts, each row with its `embedding` (FeatureCache.frames).

    `key` defaults to the cache of the backbone that params.yaml names.
    """
    if key is None:
        from pipeline.params import load_params

        spec = FeatureSpec.from_params(load_params())
        key = spec.key(spec.load_backbone(), data_fingerprint())
    return FeatureCache.open(root / key).frames()
