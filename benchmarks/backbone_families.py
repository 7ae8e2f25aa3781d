"""The backbone-family table of docs/backbones.md: for the large member of each open_clip family, how its vision
tower splits (units the tail can take) and the size of the submission it would make, from configs alone; written
to metrics/backbone_families.json, which `python -m pipeline.measurement.report` tables.

Every model is built on the meta device (no memory, no weights, no download); sizes count the backbone at fp16 as
it ships, plus the tagger and adapter of params.yaml. Usage: python -m benchmarks.backbone_families
"""
import json

import torch

from pipeline.config.section import load_section
from pipeline.config.tagger import TaggerConfig
from pipeline.config.training import AdapterConfig
from pipeline.measurement.benchmark_outputs import BACKBONE_METRICS
from pipeline.shipping.package import SIZE_LIMIT, predicted_repo_bytes
from submission_src.backbone import build_clip, model_config, tower_split

LARGE_MEMBERS = {  # family: (its test in tests/test_backbones.py, the large member)
    "OpenAI-style ViT (QuickGELU)": ("openai_vit_quickgelu", "ViT-L-14-336"),
    "ModifiedResNet": ("modified_resnet", "RN50x64"),
    "ViTamin (timm ViT, conv stem)": ("vitamin", "ViTamin-L-384"),
    "EVA02 (timm Eva, rotary)": ("eva02", "EVA02-L-14"),
    "ConvNeXt (timm stages)": ("convnext", "convnext_xxlarge"),
    "MobileCLIP (timm FastViT stages)": ("mobileclip_fastvit", "MobileCLIP-S2"),
    "SigLIP (timm ViT, HF tokenizer)": ("siglip", "ViT-SO400M-14-SigLIP-384"),
}


def main() -> None:
    tagger, hidden = load_section(TaggerConfig), load_section(AdapterConfig).hidden
    families = []
    for family, (test, name) in LARGE_MEMBERS.items():
        config = model_config(name)
        with torch.device("meta"):
            split = tower_split(build_clip(config).visual)
        size = predicted_repo_bytes(config, tagger, hidden)
        families.append({"family": family, "model": name, "units": len(split.units), "unit": split.unit,
                         "bytes": size, "fits": size <= SIZE_LIMIT, "test": test})
        print(f"{name}: {len(split.units)} {split.unit}s, {size / 1e9:.2f} GB")
    BACKBONE_METRICS.write_text(json.dumps({"families": families}, indent=2) + "\n")


if __name__ == "__main__":
    main()
