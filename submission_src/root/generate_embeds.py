"""The judge's entry points: `encode_queries(df)` (columns `query_image`, `query_text`) and `encode_database(df)`
(column `target_image`) -> float32 arrays, one L2-normalised row per row of `df`. `weights.pth` beside this file
is loaded once, on the first call; nothing is downloaded. Image paths may be str or os.PathLike, absolute or
relative to the working directory (or its images/ folder); a bad row gets a placeholder row and a warning, never
an exception (rayan_cir/embedding.py says what counts as bad).

The sibling `model.py` is loaded by its path, not by the name `model`, which a judge's own files may hold.
"""
from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
WEIGHTS = HERE / "weights.pth"


def _model_file():
    path = HERE / "model.py"
    name = f"rayan_cir_model_{hashlib.sha1(str(path).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_embedding = _model_file().package_module("embedding")


def encode_queries(df: pd.DataFrame) -> np.ndarray:
    """One L2-normalised float32 row per row of `df`, from its `query_image` and `query_text`."""
    return _embedding.encode_queries(df, _embedding.deployed(WEIGHTS))


def encode_database(df: pd.DataFrame) -> np.ndarray:
    """One L2-normalised float32 row per row of `df`, from its `target_image` file."""
    return _embedding.encode_database(df, _embedding.deployed(WEIGHTS))
