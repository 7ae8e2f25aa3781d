"""DVC stage `features`: runs the frozen backbone once over every image and text into cache/<key>/.

One process by default; under torchrun (`torchrun --nproc-per-node N -m stages.features`, and `--nnodes` with the
repository on a shared filesystem) each rank encodes its share of the chunks on its own GPU and rank 0 finalises.
"""
import json
import os

import torch

from pipeline.config.features import FeaturesConfig, FeatureSpec, ViewsConfig
from pipeline.config.runs import device_setting
from pipeline.config.section import load_section
from pipeline.console import run_stage, show_logs
from pipeline.data.dataset import load_manifest
from pipeline.params import resolve_device
from pipeline.paths import CACHE_ROOT, CURRENT_CACHE
from pipeline.pretrained import CheckpointError
from pipeline.training.features import data_fingerprint, extract, feature_key, image_table, text_table


def main() -> None:
    show_logs()
    spec, features = FeatureSpec.from_params(), load_section(FeaturesConfig)
    device = resolve_device(device_setting())
    rank, world_size = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    if world_size > 1:  # launched by torchrun: one GPU per local rank, or gloo on CPUs
        local = int(os.environ.get("LOCAL_RANK", 0))
        if device.startswith("cuda"):
            device = f"cuda:{local}"
            torch.cuda.set_device(device)
        torch.distributed.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    backbone = spec.load_backbone()
    backbone.check_tail(spec.tail_blocks)
    key = feature_key(spec, backbone, data_fingerprint())
    splits = load_manifest()
    images = image_table(splits, load_section(ViewsConfig))
    store = extract(backbone, spec, images, text_table(splits), CACHE_ROOT / key, chunk=features.chunk,
                    workers=features.decode_workers, device=device, rank=rank, world_size=world_size)
    if rank == 0:
        CURRENT_CACHE.write_text(json.dumps({"key": key, "store": str(store)}) + "\n")
        print(f"features: {store}")
    if world_size > 1:
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    run_stage(main, (CheckpointError,))
