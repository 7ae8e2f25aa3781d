"""Prints the backbone-family table of docs/backbones.md: for the large member of each open_clip family, how its
vision tower splits (units the tail can take) and the size of the submission it would make, from configs alone.

Every model is built on the meta device (no memory, no weights, no download); sizes count the backbone at fp16 as
it ships, plus the tagger and adapter of params.yaml. Usage: python -m benchmarks.backbone_families
"""
import torch

from pipeline.config.tagger import TaggerConfig
from pipeline.params import load_params
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
    params = load_params()
    tagger = TaggerConfig.from_params(params["tagger"])
    print("| family | large member | tail units (K ≤) | submission, fp16 | fits 4 GB | tested as |")
    print("|---|---|---|---|---|---|")
    for family, (test, name) in LARGE_MEMBERS.items():
        config = model_config(name)
        with torch.device("meta"):
            split = tower_split(build_clip(config).visual)
        size = predicted_repo_bytes(config, tagger, params["adapter"]["hidden"])
        print(f"| {family} | `{name}` | {len(split.units)} {split.unit}s | {size / 1e9:.2f} GB | "
              f"{'yes' if size <= SIZE_LIMIT else 'no'} | `{test}` |")


if __name__ == "__main__":
    main()
