"""The judge's entry points: `encode_queries(df)` and `encode_database(df)` -> float32 arrays, one row per row.

Loads `weights.pth` beside this file once. Never downloads anything. Bad rows (a missing, empty, truncated or
non-image file; text that is not a string) still get a finite, L2-normalised row, and a warning names them.
A missing column is the one error: it is raised, naming the column.
"""
from __future__ import annotations

import math
import os
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image, ImageFile, ImageOps
from torch.utils.data import DataLoader, Dataset

from model import Backbone, FusionAdapter, QueryParser, object_phrase

HERE = Path(__file__).resolve().parent
WEIGHTS = HERE / "weights.pth"
IMAGE_DIRS = ("", "images")  # where relative image names are looked up, under the working directory
MAX_ASPECT = 4.0  # wider images are padded first, so that resizing cannot blow up
BLANK_RGB = (128, 128, 128)


class DeployedModel:
    """Backbone with its tuned tail, fusion adapter and parser, as `weights.pth` describes them."""

    def __init__(self, path: Path = WEIGHTS):
        saved = torch.load(path, map_location="cpu", weights_only=True)
        self.backbone = Backbone.create(saved["backbone"]["model"])
        self.backbone.clip.load_state_dict(saved["backbone"]["state_dict"])
        self.adapter = FusionAdapter(saved["adapter"]["dim"], saved["adapter"]["hidden"])
        self.adapter.load_state_dict(saved["adapter"]["state_dict"])
        self.parser = QueryParser(saved["parser"]["protected"])
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.dtype = torch.float16 if self.device == "cuda" else torch.float32
        self.backbone.to(self.device, self.dtype).eval()
        self.adapter.to(self.device).eval()
        self.dim = saved["adapter"]["dim"]


@lru_cache(maxsize=1)
def _model() -> DeployedModel:
    return DeployedModel()


def _resolve(name) -> Path | None:
    if not isinstance(name, str) or not name.strip():
        return None
    path = Path(name)
    for base in IMAGE_DIRS:
        candidate = path if path.is_absolute() else Path.cwd() / base / path
        if candidate.is_file():
            return candidate
    return None


def load_rgb(name) -> tuple[Image.Image, bool]:
    """The image as 8-bit RGB (EXIF rotation applied, alpha on white, very wide images padded); (blank, False)
    when it cannot be read."""
    path = _resolve(name)
    if path is None:
        return Image.new("RGB", (224, 224), BLANK_RGB), False
    try:
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        with Image.open(path) as image:
            image.load()
            image = ImageOps.exif_transpose(image)
            if image.mode in ("I;16", "I;16B", "I;16L", "I"):
                array = np.asarray(image, dtype=np.float64)
                image = Image.fromarray((255 * array / max(array.max(), 1)).astype(np.uint8))
            if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                image = image.convert("RGBA")
                background = Image.new("RGBA", image.size, (255, 255, 255, 255))
                image = Image.alpha_composite(background, image)
            image = image.convert("RGB")
        if max(image.size) / max(1, min(image.size)) > MAX_ASPECT:
            side = max(image.size)
            image = ImageOps.pad(image, (side, max(1, math.ceil(side / MAX_ASPECT))) if image.width > image.height
                                 else (max(1, math.ceil(side / MAX_ASPECT)), side), color=BLANK_RGB)
        return image, True
    except Exception:  # any decoder failure means "unreadable": the row still gets an embedding
        return Image.new("RGB", (224, 224), BLANK_RGB), False


class _Images(Dataset):
    def __init__(self, names: list, preprocess):
        self.names, self.preprocess = names, preprocess

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int):
        image, ok = load_rgb(self.names[i])
        return self.preprocess(image), ok


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


def _run_batches(fn, items: list, batch_size: int) -> list[torch.Tensor]:
    """Applies `fn` batch by batch, halving the batch size on CUDA out-of-memory."""
    outputs, start = [], 0
    while start < len(items):
        try:
            outputs.append(fn(items[start: start + batch_size]))
            start += batch_size
        except torch.cuda.OutOfMemoryError:
            if batch_size == 1:
                raise
            torch.cuda.empty_cache()
            batch_size //= 2
    return outputs


def _collate(batch):
    return torch.stack([pixels for pixels, _ in batch]), [ok for _, ok in batch]


@torch.no_grad()
def _encode_images(names: list) -> torch.Tensor:
    """Image embeddings with decoding in worker processes overlapping the GPU; warns about unreadable rows."""
    model = _model()
    # Decoding and resizing are the bottleneck on a GPU (see README): every core decodes.
    loader = DataLoader(_Images(names, model.backbone.preprocess), batch_size=256, num_workers=os.cpu_count() or 1,
                        pin_memory=model.device == "cuda", collate_fn=_collate, prefetch_factor=4)

    def encode(pixels: list[torch.Tensor]) -> torch.Tensor:
        batch = torch.stack(pixels).to(model.device, model.dtype, non_blocking=True)
        return F.normalize(model.backbone.clip.encode_image(batch).float(), dim=-1)

    embeddings, bad = [], []
    for pixels, ok in loader:
        bad += [sum(len(e) for e in embeddings) + i for i, good in enumerate(ok) if not good]
        embeddings.append(torch.cat(_run_batches(encode, list(pixels), len(pixels))))
    _warn_rows("unreadable images", bad)
    return torch.cat(embeddings)


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
    parsed = [model.parser(t) for t in clean]
    phrases = sorted({p for q in parsed for p in q.add + q.remove})
    encode_text = lambda batch: model.backbone.encode_text(batch).float()  # noqa: E731
    phrase_vectors = dict(zip(phrases, torch.cat(_run_batches(encode_text, [object_phrase(p) for p in phrases], 512))
                              if phrases else []))
    text_vectors = torch.cat(_run_batches(encode_text, clean, 512))
    zero = torch.zeros(model.dim, device=model.device)
    add = torch.stack([sum((phrase_vectors[p] for p in q.add), zero) for q in parsed])
    remove = torch.stack([sum((phrase_vectors[p] for p in q.remove), zero) for q in parsed])
    return _finite_rows(model.adapter(images, add, remove, text_vectors))
