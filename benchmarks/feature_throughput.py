"""Prints decode-only, encode-only and end-to-end images/s of the features stage for the current params.

All three are measured in this one run on the same images, so their ratio means something on a shared, noisy
machine; the absolute numbers only describe this machine at this moment.
Usage: python -m benchmarks.feature_throughput [--images N] [--device cuda]
"""
import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from pipeline.config.features import FeaturesConfig, FeatureSpec
from pipeline.config.section import load_section
from pipeline.data.dataset import load_manifest
from pipeline.training.features import ImageFiles, extract, image_table, text_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    spec, features = FeatureSpec.from_params(), load_section(FeaturesConfig)
    backbone = spec.load_backbone().to(args.device).eval()
    chunk, workers = features.chunk, features.decode_workers
    splits = load_manifest()
    images = image_table(splits).iloc[: args.images]
    dtype = torch.float16 if args.device.startswith("cuda") else torch.float32
    loader = DataLoader(ImageFiles(images.path.tolist(), backbone.preprocess), batch_size=chunk, num_workers=workers)

    started = time.perf_counter()
    batches = [pixels for pixels in loader]
    decode = len(images) / (time.perf_counter() - started)

    model = backbone.half() if dtype == torch.float16 else backbone
    with torch.no_grad():
        model.tail(model.trunk(batches[0].to(args.device, dtype), spec.tail_blocks), spec.tail_blocks)  # warm-up
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        started = time.perf_counter()
        for pixels in batches:
            model.tail(model.trunk(pixels.to(args.device, dtype), spec.tail_blocks), spec.tail_blocks)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
    encode = len(images) / (time.perf_counter() - started)

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        extract(spec.load_backbone(), spec, images, text_table(splits).iloc[:0], Path(tmp), chunk=chunk,
                workers=workers, device=args.device)
        end_to_end = len(images) / (time.perf_counter() - started)

    print(f"device {args.device}, {len(images)} images, chunk {chunk}, decode workers {workers}")
    print(f"decode-only  {decode:9.1f} images/s")
    print(f"encode-only  {encode:9.1f} images/s")
    print(f"end-to-end   {end_to_end:9.1f} images/s  (writes the Zarr store too)")
    print(f"end-to-end / encode-only = {end_to_end / encode:.2f}")


if __name__ == "__main__":
    main()
