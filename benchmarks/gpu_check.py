"""The device check: on whatever accelerator is at hand, in one run, writes one JSON with
  - features: the `features` stage's images/s for --model (random weights) with K = 1 on --images JPEGs;
  - training: one adapter epoch and one adapter_tail epoch from that cache vs the same epoch recomputing the
    frozen features from the image files (the cache's speed-up, on the device); and a whole adapter_tail epoch
    with the cached inputs resident vs streamed under a budget a quarter of their size;
  - submission: the packaged repo's `encode_database` end to end vs the image tower alone (target ≥ 0.9), and the
    images it would embed in the judge's 10 minutes at that rate;
  - judge_scale: the packaged repo run as the judge runs it (a fresh process, offline) on --judge-images database
    images (the challenge's 512-pixel renders) and as many queries: the whole process's seconds, images/s and the
    peak device memory; and its fp16 rows against the same repo in fp32 (worst cosine), on the device.
Needs the synthetic train split (`dvc repro data`) for images and queries. Sized for ≤ 8 min on one H100 with the
defaults; `--model` a config JSON and small `--images` make a CPU smoke run.

Usage: python -m benchmarks.gpu_check [--model ViT-L-14-336] [--images 2048] [--judge-images 5000] --out gpu_check.json
"""
import argparse
import json
import os
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmarks.submission_throughput import build_random_repo, measure, write_images
from pipeline.config.features import FeatureSpec
from pipeline.config.settings import Settings
from pipeline.data.dataset import SplitSource
from pipeline.measurement.timing import LiveFeatures, epoch_seconds
from pipeline.params import resolve_device
from pipeline.paths import SYNTHETIC_ROOT
from pipeline.shipping.judge_repo import LoadedRepo
from pipeline.shipping.verify import run_like_the_judge
from pipeline.training.batches import WindowStream
from pipeline.training.experiment import Experiment
from pipeline.training.feature_store import FeatureCache
from pipeline.training.features import extract, image_table, text_table
from pipeline.training.retriever import build_query_set
from submission_src.tagger import QueryTagger

TIMED_BATCHES = 4


def training_split(folder: Path, images: int) -> SplitSource:
    """The first reference groups of the synthetic train split, about `images` images, as a split of its own."""
    train = SYNTHETIC_ROOT / "train"
    frame = pd.read_csv(train / "data.csv", dtype=str)
    groups = frame.groupby("query_image", sort=False).ngroup()
    per_group = frame.groupby("query_image", sort=False).size().mean() + 1
    frame[groups < max(1, int(images / per_group))].to_csv(folder / "data.csv", index=False)
    return SplitSource(str(folder / "data.csv"), str(train / "images"))


def judge_scale(repo: Path, count: int, folder: Path) -> dict:
    """The judge's run at scale: `count` database images and `count` queries (each reference a database image,
    a two-object edit), in a fresh offline process; and the package's fp16 rows against fp32 on 256 images."""
    train = SYNTHETIC_ROOT / "train"
    frame = pd.read_csv(train / "data.csv", dtype=str)
    sources = sorted((train / "images").iterdir())
    folder.mkdir(parents=True)
    for i in range(count):
        shutil.copy(sources[i % len(sources)], folder / f"{i:06d}.jpg")
    names = [f"{i:06d}.jpg" for i in range(count)]
    texts = (list(frame.query_text) * (count // len(frame) + 1))[:count]
    queries = pd.DataFrame({"query_image": names, "query_text": texts, "target_image": names[1:] + names[:1]})
    run = run_like_the_judge(repo, queries, folder)
    loaded = LoadedRepo.load(repo)
    embedding, deployed = loaded.module("embedding"), loaded.module("deployed")
    sample = pd.DataFrame({"target_image": [str(folder / n) for n in names[:256]]})
    device = deployed.default_device()
    full = deployed.DeployedModel.load(repo / "weights.pth", device, torch.float32)
    rows = {"fp16": loaded.entry.encode_database(sample), "fp32": embedding.encode_database(sample, full)}
    return {"database_images": count, "queries": count, "process_seconds": round(run.result["process_seconds"], 1),
            "images_per_s": round(2 * count / (run.result["database_seconds"] + run.result["queries_seconds"]), 1),
            "peak_device_gb": round((run.result["peak_device_bytes"] or 0) / 1e9, 2),
            "within_judge_10_min": run.result["process_seconds"] < 600, "device": run.result["device"],
            "fp16_vs_fp32_min_cosine": float((rows["fp16"] * rows["fp32"]).sum(axis=1).min())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ViT-L-14-336", help="open_clip architecture or model-config JSON")
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--judge-images", type=int, default=5000, help="database images of the judge-scale run")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    settings = Settings.load()
    device = resolve_device(settings.device)
    result = {"model": args.model, "device": torch.cuda.get_device_name() if device.startswith("cuda")
              else f"CPU ({os.cpu_count()} cores)", "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        split = training_split(tmp, args.images)
        spec = FeatureSpec(args.model, None, tail_blocks=1)
        backbone = spec.load_backbone().eval()
        images, texts = image_table({"train": split}), text_table({"train": split})
        started = time.perf_counter()
        extract(backbone, spec, images, texts, tmp / "cache", chunk=256, workers=min(8, os.cpu_count() or 1),
                device=device)
        seconds = time.perf_counter() - started
        result["features"] = {"images": len(images), "seconds": round(seconds, 1),
                              "img_s": round(len(images) / seconds, 1)}

        backbone = spec.load_backbone().eval().to(device)
        for param in backbone.parameters():
            param.requires_grad_(False)
        cache = FeatureCache.open(tmp / "cache")
        experiment = Experiment(settings, spec, backbone, cache, QueryTagger().eval())
        queries = build_query_set(cache, split, experiment.tagger, backbone)
        live = LiveFeatures(backbone, cache.images.path.to_numpy(), spec.tail_blocks)
        cache.tail_inputs(np.arange(1))  # the one-time read of the store stays out of the timing
        epochs = {f"{name}_epoch_s_{source}": epoch_seconds(experiment, features, queries, tail, TIMED_BATCHES)
                  for name, tail in (("adapter", False), ("tail", True))
                  for source, features in (("cached", cache), ("recomputed", live))}
        result["training"] = {**{k: round(v, 3) for k, v in epochs.items()}, "queries": len(queries.frame),
                              "adapter_speedup": round(epochs["adapter_epoch_s_recomputed"]
                                                       / epochs["adapter_epoch_s_cached"], 1),
                              "tail_speedup": round(epochs["tail_epoch_s_recomputed"]
                                                    / epochs["tail_epoch_s_cached"], 1)}
        budget = max(cache.tail_bytes // 4, WindowStream.least_budget(cache.tail_array, settings.tail.batch_size))
        result["streaming"] = {"tail_bytes": cache.tail_bytes, "budget_bytes": budget}
        if budget < cache.tail_bytes:  # else the store is too small to stream
            whole = {source: epoch_seconds(experiment, features, queries, True, None)
                     for source, features in (("resident", cache), ("streamed", replace(cache, memory_bytes=budget)))}
            result["streaming"].update({f"tail_epoch_s_{k}": round(v, 3) for k, v in whole.items()},
                                       streamed_over_resident=round(whole["streamed"] / whole["resident"], 2))

        names = write_images(tmp / "jpegs", args.images, (640, 480))
        repo = build_random_repo(tmp / "repo", args.model)
        result["submission"] = measure(LoadedRepo.load(repo), names)
        result["judge_scale"] = judge_scale(repo, args.judge_images, tmp / "judge_images")
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
