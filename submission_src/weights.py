"""`weights.pth`, the one file of trained parts the judge loads: its layout, its version, writing and reading it.

Layout (format 4): `backbone` (open_clip's resolved config, the tokenizer folder beside the file or None, and the
CLIP's state dict in fp16 with the tuned tail), `adapter` and `tagger` (each module's `saved()`: config and state
dict), `method` and `tail_blocks`. Only tensors, strings and numbers: it loads with `weights_only=True`.
"""
from __future__ import annotations

from pathlib import Path

import torch

FORMAT = 4  # 4: the tagger under `tagger` (3: `parser`); 3: adapter and tagger as saved() dicts
WEIGHTS_NAME = "weights.pth"


class WeightsFormatError(ValueError):
    pass


def half_floats(state: dict) -> dict:
    """A state dict with its floating-point tensors in fp16, integer buffers as they are."""
    return {name: value.half() if value.is_floating_point() else value for name, value in state.items()}


def save_weights(path: Path, *, backbone_config: dict, backbone_state: dict, tokenizer_dir: str | None,
                 adapter: dict, tagger: dict, method: str, tail_blocks: int) -> None:
    """Writes the file. `adapter`, `tagger`: FusionAdapter.saved() and QueryTagger.saved(); the backbone's
    floating-point weights are stored in fp16, what the judge's GPU runs anyway (half the bytes of the 4 GB)."""
    torch.save({"format": FORMAT,
                "backbone": {"config": backbone_config, "tokenizer_dir": tokenizer_dir,
                             "state_dict": half_floats(backbone_state)},
                "adapter": adapter, "tagger": tagger, "method": method, "tail_blocks": tail_blocks}, path)


def load_weights(path: Path) -> dict:
    """The file's contents; a file of another format stops here, naming it, the format found and the one read."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    found = saved.get("format") if isinstance(saved, dict) else None
    if found != FORMAT:
        raise WeightsFormatError(f"{path} is weights format {found!r}; this code reads format {FORMAT}: "
                                 "package the model again with the same code that loads it")
    return saved
