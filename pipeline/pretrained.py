"""Checkpoints this project makes once and ships in git, under `pretrained/`: the bootstrap stand-in CLIP and the
query tagger. Each folder holds the fp16 weights, the recipe that made them, their metrics and a sha256 file; the
stage that wrote them remakes them when its code or params change (`dvc repro <stage>`), and every reader checks
the sha256 first, so a truncated file or a Git LFS pointer stops with its name instead of loading garbage."""
from __future__ import annotations

import hashlib
import json
import platform
import shutil
import tempfile
from pathlib import Path

import torch

PRETRAINED = Path("pretrained")
TAGGER_DIR = PRETRAINED / "tagger"  # stage train_tagger
TAGGER = TAGGER_DIR / "tagger.fp16.pt"
BOOTSTRAP_DIR = PRETRAINED / "bootstrap"  # stage bootstrap
BOOTSTRAP_WEIGHTS = BOOTSTRAP_DIR / "clip.fp16.pt"
BOOTSTRAP_METRICS = BOOTSTRAP_DIR / "metrics.json"


class CheckpointError(RuntimeError):
    pass


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def half_state(state: dict) -> dict:
    """Floating-point tensors in fp16 (the bytes git carries); integer buffers as they are."""
    return {name: value.half() if value.is_floating_point() else value for name, value in state.items()}


def write_checkpoint(folder: Path, weights_name: str, payload: dict, recipe: dict, metrics: dict) -> Path:
    """Writes `folder` whole (weights, recipe.json, metrics.json, <weights>.sha256) through a temporary folder, so
    a killed run leaves the shipped checkpoint as it was. Returns the weights' path."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
    staging.chmod(0o755)
    try:
        torch.save(payload, staging / weights_name)
        (staging / f"{weights_name}.sha256").write_text(f"{file_sha256(staging / weights_name)}  {weights_name}\n")
        made_on = {"python": platform.python_version(), "torch": torch.__version__, "machine": platform.machine(),
                   "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"}
        (staging / "recipe.json").write_text(json.dumps(recipe | {"made_on": made_on}, indent=2) + "\n")
        (staging / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder / weights_name


def verified(path: Path) -> Path:
    """`path` itself once its bytes match the sha256 file beside it; otherwise a CheckpointError naming both."""
    path = Path(path)
    listed = path.with_name(path.name + ".sha256")
    if not path.is_file() or not listed.is_file():
        raise CheckpointError(f"{path} (or its {listed.name}) is missing: it ships with the repository; restore it "
                              f"with `git checkout -- {path.parent}` or remake it with `dvc repro` of its stage")
    expected, actual = listed.read_text().split()[0], file_sha256(path)
    if actual != expected:
        raise CheckpointError(f"{path} has sha256 {actual}, not the {expected} recorded beside it: a partial "
                              "download or a Git LFS pointer? restore it with git, or remake it with its stage")
    return path


def load_checkpoint(path: Path) -> dict:
    """The verified checkpoint's payload, on the CPU."""
    return torch.load(verified(path), map_location="cpu", weights_only=True)
