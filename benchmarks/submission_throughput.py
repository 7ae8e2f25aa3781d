"""Prints the submission's images/s in one run: input pipeline only, encode only, and end to end.

Builds a repo the way the `package` stage does, with random weights for --model (default ViT-L-14-336, a large
backbone: random weights time the same as trained ones), writes --images JPEGs of --size from the synthetic test
split, and times on the same images:
  - input: `pixel_batches` alone (decode threads, resize/crop/normalise on the device);
  - pil_input: the previous design, open_clip's PIL transform in worker processes (as many as decode
    threads), float pixels to the device;
  - encode_only: the image tower on one resident batch, repeated;
  - end_to_end: `encode_database`, what the judge calls.
end_to_end / encode_only says how much of the device's speed the input pipeline delivers.
Usage: python -m benchmarks.submission_throughput [--model ViT-L-14-336] [--images 4096] [--size 640x480]
"""
import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from PIL import Image
from torch.utils.data import DataLoader

from pipeline.config.features import FeatureSpec
from pipeline.paths import SYNTHETIC_ROOT
from pipeline.shipping.judge_repo import LoadedRepo
from pipeline.shipping.package import Shipment, build_repo
from pipeline.training.features import ImageFiles
from submission_src.backbone import model_config
from submission_src.fusion import FusionAdapter
from submission_src.tagger import QueryTagger

SOURCE_IMAGES = SYNTHETIC_ROOT / "test" / "images"


def write_images(folder: Path, count: int, size: tuple[int, int]) -> list[str]:
    sources = sorted(SOURCE_IMAGES.glob("*.jpg"))
    if not sources:
        raise SystemExit(f"no images under {SOURCE_IMAGES}: run `dvc repro data` first")
    folder.mkdir(parents=True)
    names = []
    for i in range(count):
        path = folder / f"{i:06d}.jpg"
        Image.open(sources[i % len(sources)]).convert("RGB").resize(size).save(path, quality=90)
        names.append(str(path))
    return names


def build_random_repo(folder: Path, model: str) -> Path:
    """A repo of `model` with random weights, an untrained adapter and an untrained tagger (speed only)."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = FeatureSpec(model, None, tail_blocks=1)
    shipment = Shipment("arithmetic", "a benchmark", FusionAdapter(model_config(model)["embed_dim"], 512).saved(),
                        {}, 0)
    return build_repo(folder / "hf_repo", spec, shipment, QueryTagger().saved(), {"val": {}, "test": {}}, {})


def timed(fn, device: str) -> float:
    if device == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


@torch.no_grad()
def measure(repo: LoadedRepo, names: list[str]) -> dict:
    model, embedding, embeds = repo.model, repo.module("embedding"), repo.entry
    device, count = model.device, len(names)
    embeds.encode_database(pd.DataFrame({"target_image": names[: model.image_batches.size]}))  # warm-up
    rates = {"input": count / timed(lambda: [p.sum() for p, _ in embedding.pixel_batches(names, model)], device)}

    pil = DataLoader(ImageFiles(names, model.backbone.preprocess), batch_size=model.image_batches.size,
                     num_workers=embedding._decode_threads(len(names) // embedding.CHUNK),
                     pin_memory=device == "cuda")
    rates["pil_input"] = count / timed(lambda: [p.to(device, model.dtype, non_blocking=True).sum() for p in pil],
                                       device)

    batch, _ = next(embedding.pixel_batches(names[: model.image_batches.size], model))
    repeats = max(1, count // len(batch))
    rates["encode_only"] = repeats * len(batch) / timed(
        lambda: [model.backbone.clip.encode_image(batch) for _ in range(repeats)], device)

    rates["end_to_end"] = count / timed(lambda: embeds.encode_database(pd.DataFrame({"target_image": names})), device)
    return {f"{name}_img_s": round(rate, 1) for name, rate in rates.items()} | {
        "end_to_end_vs_encode_only": round(rates["end_to_end"] / rates["encode_only"], 3),
        "input_vs_pil_input": round(rates["input"] / rates["pil_input"], 2),
        "images_per_10_min": int(600 * rates["end_to_end"]),
        "decode_threads": embedding._decode_threads(count // embedding.CHUNK),
        "device": torch.cuda.get_device_name() if device == "cuda" else f"CPU ({os.cpu_count()} cores)",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ViT-L-14-336", help="open_clip architecture or model-config JSON")
    parser.add_argument("--images", type=int, default=4096)
    parser.add_argument("--size", default="640x480", help="width x height of the JPEGs")
    parser.add_argument("--out", type=Path, help="also write the result here as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        names = write_images(Path(tmp) / "images", args.images, tuple(map(int, args.size.split("x"))))
        repo = LoadedRepo.load(build_random_repo(Path(tmp), args.model))
        result = {"model": args.model, "images": args.images, "size": args.size} | measure(repo, names)
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
