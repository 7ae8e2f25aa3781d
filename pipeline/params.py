"""Reads params.yaml, the one place every stage takes its settings from."""
from __future__ import annotations

from pathlib import Path

import yaml

PARAMS_PATH = Path("params.yaml")


def load_params(path: Path = PARAMS_PATH) -> dict:
    return yaml.safe_load(Path(path).read_text())
