"""Feature extraction: what the frozen backbone says about every image and text, computed once.

Built as clip-retrieval's inference is: a reader (`ImageFiles`: image files → pixels, in DataLoader workers), a
mapper (`encode_images`: pixels → the tail's inputs and the image embeddings) and the store's writer
(pipeline/training/feature_store.py), joined by `extract`, which also shares the chunks out among the ranks of a
torchrun job. Images come in reference-group order (each reference, then its targets), so the rows one batch needs
lie close together in the store. `<key>` hashes architecture, weights, preprocessing, K, the dataset's fingerprint,
the text table and the store's format, so a changed backbone or dataset never reads stale features.
"""
from __future__ import annotations

import hashlib
import json
import time
import zlib
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from pipeline.config.features import FeatureSpec, ViewsConfig
from pipeline.config.section import load_section
from pipeline.data.catalog import load_web_catalog
from pipeline.data.dataset import SplitSource, load_manifest, manifest_fingerprint
from pipeline.data.photo import Photo, draw_photo
from pipeline.paths import CACHE_ROOT
from pipeline.pretrained import file_sha256
from pipeline.training.feature_store import STORE_FORMAT, FeatureCache, StoreWriter
from pipeline.training.lean_forward import lean_forward
from submission_src.backbone import Backbone
from submission_src.images import load_rgb
from submission_src.phrases import object_phrase

FP16_MAX = float(np.finfo(np.float16).max)


def feature_key(spec: FeatureSpec, backbone: Backbone, data: str = "") -> str:
    """The cache key of `spec`'s features: a hash of everything that changes them (architecture, weights,
    preprocessing, K, the store's format and the data: `data`, `data_fingerprint()`)."""
    digest = hashlib.sha256()
    architecture = Path(spec.model).read_text() if spec.model.endswith(".json") else spec.model
    weights = file_sha256(spec.weights) if spec.weights and Path(spec.weights).is_file() else spec.weights
    preprocess = json.dumps(backbone.clip.visual.preprocess_cfg, sort_keys=True, default=str)
    # Appended only when on, and the first scope ("image") under its old name: the keys of caches made before stay.
    if scope := backbone.config.get("white_balance"):
        preprocess += " white_balance" if scope == "image" else f" white_balance {scope}"
    for part in (architecture, weights, preprocess, spec.tail_blocks, data, STORE_FORMAT):
        digest.update(str(part).encode() + b"\0")
    return digest.hexdigest()[:16]


def image_table(splits: dict[str, SplitSource], views: ViewsConfig = ViewsConfig()) -> pd.DataFrame:
    """Every unique image of every split (path, split, objects when the split records them), one row each, and
    `views.count − 1` more rows for each training image: the same file in another look (`look`: the Photo it
    is developed through, as JSON; empty for the image as it is; `view`: 0 for it).

    Rows follow reference groups: each reference image, then its targets, then the split's distractors; so the
    rows one batch needs lie close together in the store. An image's views follow it.
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
            path = str(Path(source.images) / name)
            for view in range(views.count if split == "train" else 1):
                rows.append({"path": path, "split": split, "image": name,
                             "objects": list(objects[name]) if objects is not None else None,
                             "view": view, "look": view_photo(views, path, view).to_json() if view else ""})
    table = pd.DataFrame(rows).drop_duplicates(["path", "view"]).reset_index(drop=True)
    table["row"] = np.arange(len(table))
    return table


def view_photo(views: ViewsConfig, path: str, view: int) -> Photo:
    """The photograph `view` of the image at `path` is developed through: drawn from `views.photo`, fixed by the
    image's name and the view, so the same image always gets the same looks."""
    return draw_photo(views.photo, np.random.default_rng([views.seed, view, zlib.crc32(Path(path).name.encode())]))


def text_table(splits: dict[str, SplitSource]) -> pd.DataFrame:
    """Every text the later stages embed: query texts and one phrase per object the stand-in's web knows (the
    catalog's and the web's others, pipeline/data/catalog.py), against which zero-shot object recall is scored."""
    queries = pd.unique(pd.concat([source.load().query_text for source in splits.values()]))
    table = pd.concat([pd.DataFrame({"text": queries, "kind": "query"}),
                       pd.DataFrame({"text": [object_phrase(o.name) for o in load_web_catalog()], "kind": "object"})])
    table = table.drop_duplicates("text").reset_index(drop=True)
    table["row"] = np.arange(len(table))
    return table


def data_fingerprint() -> str:
    """What the cache's key takes from the data: the dataset stage's fingerprint (rows and image bytes), the
    text table it embeds (query texts and the web's object phrases, which the data does not fix) and the views of
    the training images it holds (params `views`)."""
    texts = "\n".join(text_table(load_manifest()).text)
    views = json.dumps(asdict(load_section(ViewsConfig)), sort_keys=True)
    return hashlib.sha1(f"{manifest_fingerprint()}\0{texts}\0{views}".encode()).hexdigest()


class ImageFiles(Dataset):
    """The reader: image files → preprocessed pixels, through the judge's own loader; an image with a `look` (a
    Photo as JSON, image_table's column) is developed through it first."""

    def __init__(self, paths: list[str], preprocess, looks: list[str] | None = None):
        self.paths, self.preprocess = paths, preprocess
        self.looks = looks or [""] * len(paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        image = load_rgb(self.paths[i])[0]
        if self.looks[i]:
            image = Photo.from_json(self.looks[i]).take(image)
        return self.preprocess(image)


@torch.no_grad()
def encode_images(backbone: Backbone, pixels: torch.Tensor, tail_blocks: int,
                  names: list[str]) -> tuple[np.ndarray, torch.Tensor]:
    """The mapper: pixels → (the activations entering the last `tail_blocks` units, as fp16, and the L2-normalised
    image embeddings). Activations beyond fp16's range stop here, naming the images (`names`, one per row)."""
    activations = backbone.trunk(pixels, tail_blocks)  # stored: computed as the judge computes it
    with lean_forward(backbone):  # the same function with less work (eval mode: batch norms are frozen)
        embeddings = F.normalize(backbone.tail(activations, tail_blocks).float(), dim=-1)
    peak = activations.abs().max().item()
    if not peak <= FP16_MAX:  # also catches NaN
        raise ValueError(f"features: activations entering the last {tail_blocks} units reach {peak:.3g} in "
                         f"{names[0]} … {names[-1]}, beyond fp16's {FP16_MAX:.0f}; the store keeps them in fp16 — "
                         "try another features.tail_blocks")
    return activations.cpu().numpy().astype(np.float16), embeddings


def _barrier(world_size: int) -> None:
    if world_size > 1:
        torch.distributed.barrier()


@torch.no_grad()
def extract(backbone: Backbone, spec: FeatureSpec, images: pd.DataFrame, texts: pd.DataFrame, out_dir: Path,
            chunk: int = 256, workers: int = 2, device: str = "cpu", rank: int = 0, world_size: int = 1) -> Path:
    """Builds (or resumes) `out_dir/features.zarr`: reader → mapper → writer, chunk by chunk; returns its path.

    With `world_size` > 1 (torchrun: a process group must be initialised) rank r encodes chunks r, r + W, … into
    the same arrays — a shared filesystem for several nodes — and rank 0 finalises. Each finished chunk leaves a
    marker, so a killed run, with any number of ranks, resumes at the chunks without one.
    """
    writer = StoreWriter(out_dir, chunk)
    if writer.final.exists():
        return writer.final
    half = device.startswith("cuda")
    backbone = backbone.to(device).eval()
    if half:
        backbone = backbone.half()
    dtype = np.float16 if half else np.float32
    if rank == 0 and not writer.resumable:
        probe = backbone.preprocess(Image.new("RGB", (32, 32))).unsqueeze(0).to(device, torch.float16 if half else None)
        writer.create(len(images), len(texts), backbone.clip.encode_image(probe).shape[1],
                      tuple(backbone.trunk(probe, spec.tail_blocks).shape[1:]), dtype,
                      {"tail_blocks": spec.tail_blocks, "model": spec.model, "pretrained": spec.pretrained})
    _barrier(world_size)
    writer.open()
    chunks = writer.pending(rank, world_size)
    rows = writer.rows(chunks)
    # Batches are whole chunks: every chunk but the last of the store is full, and that one comes last here.
    looks = images.look.iloc[rows].tolist() if "look" in images else None
    loader = DataLoader(ImageFiles(images.path.iloc[rows].tolist(), backbone.preprocess, looks), batch_size=chunk,
                        num_workers=workers, pin_memory=half)
    started = time.time()
    bar = tqdm(total=len(rows), desc=f"features: images (rank {rank}/{world_size})", unit="img")
    for c, pixels in zip(chunks, loader):
        pixels = pixels.to(device, torch.float16 if half else torch.float32, non_blocking=True)
        names = images.path.iloc[c * chunk: c * chunk + len(pixels)].tolist()
        tail_inputs, embeddings = encode_images(backbone, pixels, spec.tail_blocks, names)
        writer.write_chunk(c, tail_inputs, embeddings.cpu().numpy().astype(dtype))
        bar.update(len(pixels))
        bar.set_postfix(img_per_s=f"{bar.n / (time.time() - started):.1f}")
    bar.close()
    _barrier(world_size)
    final = writer.final
    if rank == 0:
        for start in tqdm(range(0, len(texts), 512), desc="features: texts", unit="batch"):
            batch = texts.text.iloc[start: start + 512].tolist()
            writer.write_texts(start, backbone.encode_text(batch).float().cpu().numpy())
        final = writer.publish(images, texts)
    _barrier(world_size)
    return final


def open_cache(key: str | None = None, root: Path = CACHE_ROOT) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cache as two pandas DataFrames, images and texts, each row with its `embedding` (FeatureCache.frames).

    `key` defaults to the cache of the backbone that params.yaml names.
    """
    if key is None:
        spec = FeatureSpec.from_params()
        key = feature_key(spec, spec.load_backbone(), data_fingerprint())
    return FeatureCache.open(root / key).frames()
