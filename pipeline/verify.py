"""Runs the packaged repo as the judge would: a fresh process inside it, offline, sockets to the network blocked,
every cache a library could fill from the hub pointed at an empty folder — and compares its embeddings, row by row,
with the pipeline's own, so a package that drops a trained part cannot pass."""
from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd

from pipeline.dataset import load_manifest
from pipeline.package import SHIPPED_CODE, SIZE_LIMIT
from pipeline.paths import EVAL_METRICS, PACKAGE_METRICS, REPO, TEST_EMBEDDINGS

MIN_COSINE = 0.999  # judge row vs the pipeline's row: fp16 weights and the device-side resize stay far above it
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
EMPTY_CACHES = ("HF_HOME", "XDG_CACHE_HOME", "TORCH_HOME", "HUGGINGFACE_HUB_CACHE", "OPEN_CLIP_CACHE_DIR")

# Run first where the process itself must cut the network (no network namespace): any IP connection raises.
SOCKET_BLOCK = r'''
import socket
_connect = socket.socket.connect
def _local_only(self, address, *args):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        raise OSError(f"verification blocks network access (tried {address})")
    return _connect(self, address, *args)
socket.socket.connect = _local_only
socket.socket.connect_ex = _local_only
'''

# The judge's protocol. Runs with the repo as working directory and nothing of the pipeline importable; an empty
# frame's first call times the weights' loading apart from the embedding.
PROTOCOL = r'''
import json, os, platform, sys, time
from pathlib import Path

sys.path.insert(0, str(Path.cwd()))
import numpy as np, pandas as pd
started = time.perf_counter()
import generate_embeds  # with torch and everything else the package needs
import_s = time.perf_counter() - started
import torch

csv_path, database_path, images, out, embeddings_out = sys.argv[1:]
df = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
for column in ("query_image", "target_image"):
    df[column] = [str(Path(images) / name) for name in df[column]]
database = pd.read_csv(database_path, dtype=str, keep_default_na=False)
database["target_image"] = [str(Path(images) / name) for name in database.target_image]
started = time.perf_counter()
generate_embeds.encode_database(database.iloc[:0])
load_s = time.perf_counter() - started
started = time.perf_counter()
db = generate_embeds.encode_database(database)
database_s = time.perf_counter() - started
started = time.perf_counter()
queries = generate_embeds.encode_queries(df[["query_image", "query_text"]])
queries_s = time.perf_counter() - started
position = {name: i for i, name in enumerate(database.target_image)}
best = (queries @ db.T).argmax(axis=1)
hits = best == np.array([position[t] for t in df.target_image])
rows = np.concatenate([db, queries])
np.savez(embeddings_out, queries=queries, database=db)
json.dump({"top1": float(hits.mean()), "queries": len(df), "database": len(database), "import_seconds": import_s,
           "load_seconds": load_s, "database_seconds": database_s, "queries_seconds": queries_s,
           "python": platform.python_version(), "cpus": len(os.sched_getaffinity(0)),
           "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
           "shapes_ok": db.shape == (len(database), queries.shape[1]) and queries.shape[0] == len(df),
           "dtype": str(queries.dtype), "finite": bool(np.isfinite(rows).all()),
           "max_norm_error": float(np.abs(np.linalg.norm(rows, axis=1) - 1).max())}, open(out, "w"))
'''


def import_in_process(repo: Path) -> ModuleType:
    """The repo's `generate_embeds`, imported in this process as the judge imports it (its folder first on
    sys.path); the shipped modules of a repo imported before are dropped first, so none of theirs is reused."""
    for name in [Path(p).stem for p in SHIPPED_CODE]:
        sys.modules.pop(name, None)
    sys.path.insert(0, str(repo))
    return importlib.import_module("generate_embeds")


@dataclass
class JudgeRun:
    result: dict  # Top-1, timings and sanity checks
    queries: np.ndarray  # one embedding per query row
    database: np.ndarray  # one embedding per unique target image, in order of first appearance, then distractors


@dataclass(frozen=True)
class Interpreter:
    """How the judge's process starts.

    Args:
        python: its interpreter.
        prefix: a command it runs under (a network namespace's `unshare --net`).
        network_block: Python run before the protocol to cut the network; empty where the prefix already has.
        clean_env: only what a fresh machine sets (PATH to the interpreter, a locale), HOME an empty folder too;
            otherwise this process's environment.
    """

    python: str = sys.executable
    prefix: tuple[str, ...] = ()
    network_block: str = SOCKET_BLOCK
    clean_env: bool = False

    def environment(self, empty: Path) -> dict:
        """Its variables: offline flags and every cache (and with clean_env HOME) under `empty`."""
        if self.clean_env:
            (empty / "HOME").mkdir(parents=True)
            base = {"PATH": f"{Path(self.python).parent}{os.pathsep}/usr/bin{os.pathsep}/bin", "LANG": "C.UTF-8",
                    "HOME": str(empty / "HOME")}
            base |= {name: os.environ[name] for name in ("CUDA_VISIBLE_DEVICES",) if name in os.environ}
        else:
            base = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        return base | OFFLINE_ENV | {name: str(empty / name) for name in EMPTY_CACHES}


PIPELINE = Interpreter()  # this Python, its packages, its environment: the network cut inside the process


def run_like_the_judge(repo: Path, queries: pd.DataFrame, images: Path, distractors: list[str] = (),
                       interpreter: Interpreter = PIPELINE) -> JudgeRun:
    """`repo` run on `queries` (challenge columns, names relative to `images`) in a fresh process; its database is
    the unique targets, then `distractors`."""
    repo, images = repo.resolve(), images.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        out, csv_path, embeddings = tmp / "result.json", tmp / "data.csv", tmp / "embeddings.npz"
        queries.to_csv(csv_path, index=False)
        database = pd.DataFrame({"target_image": list(pd.unique(queries.target_image)) + list(distractors)})
        database.to_csv(tmp / "database.csv", index=False)
        command = [*interpreter.prefix, interpreter.python, "-c", interpreter.network_block + PROTOCOL, str(csv_path),
                   str(tmp / "database.csv"), str(images), str(out), str(embeddings)]
        started = time.perf_counter()
        process = subprocess.run(command, cwd=repo, env=interpreter.environment(tmp / "empty"))
        if process.returncode:
            raise SystemExit(f"the judge's process failed (exit {process.returncode}; its output is above), running "
                             f"{repo} with {interpreter.python}")
        result = json.loads(out.read_text()) | {"process_seconds": time.perf_counter() - started}
        with np.load(embeddings) as saved:
            run = JudgeRun(result, saved["queries"], saved["database"])
        result["caches_left_empty"] = not any(p.is_file() for p in (tmp / "empty").rglob("*"))
    result["size_bytes"] = sum(f.stat().st_size for f in repo.rglob("*") if f.is_file())
    return run


def verify_test_split(interpreter: Interpreter = PIPELINE, repo: Path = REPO) -> dict:
    """`repo` run as the judge runs it on the test split, its every embedding row held against the one `evaluate`
    computed for the same query or image with the method that shipped; `problems` lists what fails."""
    test = load_manifest()["test"]
    frame = test.load()
    method = json.loads(PACKAGE_METRICS.read_text())["method"]
    expected = json.loads(EVAL_METRICS.read_text())["test"][method]["top1"]
    run = run_like_the_judge(repo, frame, Path(test.images), test.distractor_images(), interpreter)
    with np.load(TEST_EMBEDDINGS) as pipeline:
        position = {name: i for i, name in enumerate(pipeline["database_images"])}
        database = pipeline[f"database_{method}"][[position[name] for name in test.database_images(frame)]]
        result = run.result | {"method": method, "evaluate_top1": expected,
                               "min_cosine_queries": min_row_cosine(run.queries, pipeline[f"queries_{method}"]),
                               "min_cosine_database": min_row_cosine(run.database, database)}
    result["min_cosine"] = min(result["min_cosine_queries"], result["min_cosine_database"])
    result["problems"] = check(result, expected)
    return result


def min_row_cosine(judge: np.ndarray, pipeline: np.ndarray) -> float:
    """The worst agreement between the judge's rows and the pipeline's rows of the same items."""
    judge, pipeline = (a / np.linalg.norm(a, axis=1, keepdims=True) for a in (judge, pipeline))
    return float((judge * pipeline).sum(axis=1).min())


def check(result: dict, expected_top1: float, tolerance: float = 0.005) -> list[str]:
    """What the judge would reject, or what disagrees with the evaluate stage; empty when all is well.
    `result["min_cosine"]`, when present, is the judge's worst row against the pipeline's."""
    problems = []
    if result["size_bytes"] > SIZE_LIMIT:
        problems.append(f"repo is {result['size_bytes'] / 1e9:.2f} GB, over the {SIZE_LIMIT / 1e9:.0f} GB limit")
    if not result["shapes_ok"]:
        problems.append("embedding shapes do not match the rows given")
    if not result["finite"] or result["max_norm_error"] > 1e-3 or result["dtype"] != "float32":
        problems.append("embeddings are not finite, L2-normalised float32 rows")
    if not result.get("caches_left_empty", True):
        problems.append("the repo wrote to a hub or model cache: on the judge's machine that is a download")
    if result.get("min_cosine", 1.0) < MIN_COSINE:
        problems.append(f"a judge embedding row differs from the pipeline's (min cosine {result['min_cosine']:.4f} "
                        f"< {MIN_COSINE}): the package is not what was trained")
    if abs(result["top1"] - expected_top1) > tolerance:
        problems.append(f"Top-1 {result['top1']:.4f} differs from evaluate's for the shipped method, "
                        f"{expected_top1:.4f}")
    return problems
