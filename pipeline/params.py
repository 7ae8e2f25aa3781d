"""Reads params.yaml, the one place every stage takes its settings from."""
from __future__ import annotations

from pathlib import Path

import torch
import yaml

PARAMS_PATH = Path("params.yaml")


def load_params(path: Path = PARAMS_PATH) -> dict:
    return yaml.safe_load(Path(path).read_text())


def resolve_device(setting: str = "auto") -> str:
    """`device` of params.yaml: 'auto' is CUDA when there is a GPU, else the CPU; or a torch device string."""
    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if setting.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"device {setting!r} asked for, but torch sees no GPU")
    return setting
