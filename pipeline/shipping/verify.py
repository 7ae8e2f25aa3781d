"""Runs the packaged repo as the judge would: a fresh process, offline, sockets to the network blocked, every cache a
library could fill from the hub pointed at an empty folder — in each way a judge's harness plausibly imports it —
and compares its embeddings, row by row, with the same model built in this process from the pipeline's own trained
parts at the package's precision. Like is compared with like, so the bound is tight: a package that drops a trained
part, ships a wrong tail or a wrong tokenizer fails, and rounding never does."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from pipeline.config.features import FeatureSpec
from pipeline.data.dataset import load_manifest
from pipeline.data.names import team_tagger
from pipeline.paths import EVAL_METRICS, PACKAGE_METRICS, REPO, TEST_EMBEDDINGS
from pipeline.ranking import target_ranks, top1
from pipeline.shipping.package import SIZE_LIMIT, Shipment
from submission_src import embedding
from submission_src.deployed import DeployedModel
from submission_src.fusion import FusionAdapter
from submission_src.tagger import QueryTagger
from submission_src.weights import half_floats

# The judge's rows vs the same model built from the pipeline's parts, at the same precision on the same kind of
# device: only the order of floating-point sums may differ (measured: 1 - cosine below 1e-6 in fp32).
MIN_COSINE = 0.9999
# The same where the judge's process runs another torch (the rehearsal's Python 3.10 venv of the shipped
# requirements: 2.5.1 against the pipeline's 2.14.1, 2026-12-08): other kernels, 1 - cosine 1.3e-4 measured. A
# wrong part stays far below it (tests' dropped adapter, wrong tail, wrong tokenizer: 0.81, 0.93, 0.23).
MIN_COSINE_OTHER_TORCH = 0.999
# The judge's Top-1 vs evaluate's, which ranks rows from the fp16 feature cache: near-ties may flip (the judge's own
# Python 3.10 environment moved it 0.13 points), a different split, method or part cannot hide in half a point; on
# a split under SMALL_SPLIT queries one query is more than that, and one flipped query is allowed.
EVALUATE_TOLERANCE = 0.005
SMALL_SPLIT = 200
LAYOUT_QUERIES = 48  # queries each extra harness layout runs (the plain layout runs the whole split)
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

# The judge's protocol, in one of LAYOUTS (how the harness imports the repo and names the images). Nothing of the
# pipeline is importable; an empty frame's first call times the weights' loading apart from the embedding.
PROTOCOL = r"""
import json, os, platform, sys, time
from pathlib import Path

repo, layout, csv_path, database_path, images, out, embeddings_out = sys.argv[1:]
import numpy as np, pandas as pd
started = time.perf_counter()
if layout == "by_path":  # importlib on the file, under a name of the harness's choosing
    import importlib.util
    spec = importlib.util.spec_from_file_location("submission", Path(repo) / "generate_embeds.py")
    generate_embeds = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate_embeds)
else:
    if layout == "appended":  # the harness's own folder (its model.py, images.py, weights.py) stays first
        sys.path.append(repo)
    else:
        sys.path.insert(0, repo)
    import generate_embeds
import_s = time.perf_counter() - started
import torch

df = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
database = pd.read_csv(database_path, dtype=str, keep_default_na=False)
targets = list(database.target_image)
if layout == "pathlib_relative":  # pathlib paths, relative to the working directory (the images' parent)
    located = lambda names: [Path(Path(images).name) / name for name in names]
else:
    located = lambda names: [str(Path(images) / name) for name in names]
started = time.perf_counter()
generate_embeds.encode_database(pd.DataFrame({"target_image": []}))
load_s = time.perf_counter() - started
started = time.perf_counter()
db = generate_embeds.encode_database(pd.DataFrame({"target_image": located(targets)}))
database_s = time.perf_counter() - started
started = time.perf_counter()
queries = generate_embeds.encode_queries(pd.DataFrame({"query_image": located(df.query_image),
                                                       "query_text": list(df.query_text)}))
queries_s = time.perf_counter() - started
position = {name: i for i, name in enumerate(targets)}
best = (queries @ db.T).argmax(axis=1)
hits = best == np.array([position[t] for t in df.target_image])
rows = np.concatenate([db, queries])
np.savez(embeddings_out, queries=queries, database=db)
json.dump({"top1": float(hits.mean()), "queries": len(df), "database": len(database), "import_seconds": import_s,
           "load_seconds": load_s, "database_seconds": database_s, "queries_seconds": queries_s,
           "python": platform.python_version(), "torch": torch.__version__, "cpus": len(os.sched_getaffinity(0)),
           "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
           "peak_device_bytes": torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None,
           "shapes_ok": db.shape == (len(database), queries.shape[1]) and queries.shape[0] == len(df),
           "dtype": str(queries.dtype), "finite": bool(np.isfinite(rows).all()),
           "max_norm_error": float(np.abs(np.linalg.norm(rows, axis=1) - 1).max())}, open(out, "w"))
"""
LAYOUTS = ("plain", "appended", "by_path", "pathlib_relative")
# What a harness folder may hold beside its scoring script: modules named like ours that are not ours.
HARNESS_DECOYS = {name: f"raise ImportError('the harness\'s own {name}, not the submission\'s')\n"
                  for name in ("model.py", "weights.py", "images.py", "backbone.py", "tagger.py")}


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


def judge_database(queries: pd.DataFrame, distractors: list[str] = ()) -> list[str]:
    """The database a judge builds from `queries`: the unique targets, then the distractors."""
    return list(pd.unique(queries.target_image)) + list(distractors)


def _working_directory(layout: str, repo: Path, images: Path, tmp: Path) -> Path:
    if layout == "appended":
        harness = tmp / "harness"
        harness.mkdir()
        for name, text in HARNESS_DECOYS.items():
            (harness / name).write_text(text)
        return harness
    return images.parent if layout == "pathlib_relative" else repo


def run_like_the_judge(repo: Path, queries: pd.DataFrame, images: Path, distractors: list[str] = (),
                       interpreter: Interpreter = PIPELINE, layout: str = "plain") -> JudgeRun:
    """`repo` run on `queries` (challenge columns, names relative to `images`) in a fresh process, imported and fed
    as `layout` says (one of LAYOUTS); its database is the unique targets, then `distractors`. `process_seconds`
    is the judge's clock: the whole process, from its start to its last row."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout {layout!r}: one of {', '.join(LAYOUTS)}")
    repo, images = repo.resolve(), images.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        out, csv_path, embeddings = tmp / "result.json", tmp / "data.csv", tmp / "embeddings.npz"
        queries.to_csv(csv_path, index=False)
        pd.DataFrame({"target_image": judge_database(queries, distractors)}).to_csv(tmp / "database.csv",
                                                                                     index=False)
        command = [*interpreter.prefix, interpreter.python, "-c", interpreter.network_block + PROTOCOL, str(repo),
                   layout, str(csv_path), str(tmp / "database.csv"), str(images), str(out), str(embeddings)]
        started = time.perf_counter()
        process = subprocess.run(command, cwd=_working_directory(layout, repo, images, tmp),
                                 env=interpreter.environment(tmp / "empty"))
        if process.returncode:
            raise SystemExit(f"the judge's process failed (exit {process.returncode}; its output is above), running "
                             f"{repo} with {interpreter.python}, harness layout {layout}")
        result = json.loads(out.read_text()) | {"process_seconds": time.perf_counter() - started, "layout": layout}
        with np.load(embeddings) as saved:
            run = JudgeRun(result, saved["queries"], saved["database"])
        result["caches_left_empty"] = not any(p.is_file() for p in (tmp / "empty").rglob("*"))
    result["size_bytes"] = sum(f.stat().st_size for f in repo.rglob("*") if f.is_file())
    return run


def layout_agreement(repo: Path, queries: pd.DataFrame, images: Path, reference: JudgeRun,
                     interpreter: Interpreter = PIPELINE) -> dict[str, float]:
    """Each layout but `plain` on the first LAYOUT_QUERIES queries, from a copy of the repo under a path with
    spaces: the largest difference of any of its rows from `reference` (the plain layout's run of `queries`)."""
    subset = queries.iloc[:LAYOUT_QUERIES]
    targets = {name: i for i, name in enumerate(judge_database(queries))}
    expected_database = reference.database[[targets[name] for name in judge_database(subset)]]
    differences = {}
    with tempfile.TemporaryDirectory() as tmp:
        spaced = Path(shutil.copytree(repo, Path(tmp) / "a judge's repo with spaces"))
        for layout in LAYOUTS[1:]:
            run = run_like_the_judge(spaced, subset, images, interpreter=interpreter, layout=layout)
            differences[layout] = float(max(np.abs(run.queries - reference.queries[:len(subset)]).max(),
                                            np.abs(run.database - expected_database).max()))
    return differences


def reference_model(spec: FeatureSpec, shipment: Shipment, tagger: dict) -> DeployedModel:
    """The model the package should be, built here from the pipeline's own parts: the backbone with the shipment's
    tail, rounded to fp16 as weights.pth stores it, its adapter and the tagger; on the judge's kind of device."""
    backbone = shipment.backbone(spec)
    backbone.clip.load_state_dict(half_floats(backbone.clip.state_dict()))
    return DeployedModel(backbone, FusionAdapter.from_saved(shipment.adapter), QueryTagger.from_saved(tagger))


def reference_rows(model: DeployedModel, queries: pd.DataFrame, images: Path,
                   distractors: list[str] = ()) -> tuple[np.ndarray, np.ndarray]:
    """`model`'s query and database rows, in the judge's order, through the shipped embedding code."""
    located = lambda names: [str(images.resolve() / name) for name in names]  # noqa: E731
    return (embedding.encode_queries(pd.DataFrame({"query_image": located(queries.query_image),
                                                   "query_text": list(queries.query_text)}), model),
            embedding.encode_database(pd.DataFrame({"target_image": located(judge_database(queries, distractors))}),
                                      model))


def measured_on(result: dict) -> str:
    """Where a judge figure was measured, in words: the interpreter, the device, the CPUs."""
    return f"Python {result['python']}, {result['device']}, {result['cpus']} CPU(s)"


def verify_test_split(interpreter: Interpreter = PIPELINE, repo: Path = REPO) -> dict:
    """`repo` run as the judge runs it on the test split, its every embedding row held against the same model built
    from the pipeline's parts (and its Top-1 against evaluate's), and in every harness layout; `problems` lists
    what fails."""
    test = load_manifest()["test"]
    frame = test.load()
    method = json.loads(PACKAGE_METRICS.read_text())["method"]
    metrics = json.loads(EVAL_METRICS.read_text())
    images, distractors = Path(test.images), test.distractor_images()
    run = run_like_the_judge(repo, frame, images, distractors, interpreter)
    spec = FeatureSpec.from_params()
    reference = reference_model(spec, Shipment.choose(method, metrics["val"]), team_tagger())
    expected_queries, expected_database = reference_rows(reference, frame, images, distractors)
    with np.load(TEST_EMBEDDINGS) as pipeline:
        position = {name: i for i, name in enumerate(pipeline["database_images"])}
        cached = pipeline[f"database_{method}"][[position[name] for name in judge_database(frame, distractors)]]
        vs_evaluate = min(min_row_cosine(run.queries, pipeline[f"queries_{method}"]), min_row_cosine(run.database,
                                                                                                   cached))
    result = run.result | {
        "method": method, "evaluate_top1": metrics["test"][method]["top1"],
        "reference_top1": reference_top1(expected_queries, expected_database, frame),
        "min_cosine": min(min_row_cosine(run.queries, expected_queries), min_row_cosine(run.database,
                                                                                         expected_database)),
        "min_cosine_vs_evaluate": vs_evaluate, "measured_on": measured_on(run.result),
        "layouts_max_difference": layout_agreement(repo, frame, images, run, interpreter)}
    result["problems"] = check(result, result["evaluate_top1"])
    return result


def reference_top1(queries: np.ndarray, database: np.ndarray, frame: pd.DataFrame) -> float:
    """The judge's score of these rows: each query's target is the database row it is closest to."""
    position = {name: i for i, name in enumerate(pd.unique(frame.target_image))}
    return top1(target_ranks(queries @ database.T, frame.target_image.map(position).to_numpy()))


def min_row_cosine(judge: np.ndarray, pipeline: np.ndarray) -> float:
    """The worst agreement between the judge's rows and the pipeline's rows of the same items."""
    judge, pipeline = (a / np.linalg.norm(a, axis=1, keepdims=True) for a in (judge, pipeline))
    return float((judge * pipeline).sum(axis=1).min())


def check(result: dict, expected_top1: float) -> list[str]:
    """What the judge would reject, or what disagrees with the pipeline; empty when all is well.
    `result["min_cosine"]`, when present, is the judge's worst row against the reference model's (held to
    `cosine_bound` of `result["torch"]`, the judge process's torch);
    `result["layouts_max_difference"]`, each harness layout's largest difference from the plain one."""
    problems = []
    if result["size_bytes"] > SIZE_LIMIT:
        problems.append(f"repo is {result['size_bytes'] / 1e9:.2f} GB, over the {SIZE_LIMIT / 1e9:.0f} GB limit")
    if not result["shapes_ok"]:
        problems.append("embedding shapes do not match the rows given")
    if not result["finite"] or result["max_norm_error"] > 1e-3 or result["dtype"] != "float32":
        problems.append("embeddings are not finite, L2-normalised float32 rows")
    if not result.get("caches_left_empty", True):
        problems.append("the repo wrote to a hub or model cache: on the judge's machine that is a download")
    judge_torch = result.get("torch", torch.__version__)
    bound = cosine_bound(judge_torch)
    if result.get("min_cosine", 1.0) < bound:
        problems.append(f"a judge embedding row differs from the same model built from the pipeline's parts (min "
                        f"cosine {result['min_cosine']:.6f} < {bound}, judge's torch "
                        f"{judge_torch}): the package is not what was trained")
    for layout, difference in result.get("layouts_max_difference", {}).items():
        if difference > 1e-4:
            problems.append(f"harness layout {layout} gives other rows than the plain import (largest difference "
                            f"{difference:.3g})")
    if abs(result["top1"] - expected_top1) > top1_tolerance(result["queries"]) + 1e-9:
        problems.append(f"Top-1 {result['top1']:.4f} differs from evaluate's for the shipped method, "
                        f"{expected_top1:.4f}, by more than {top1_tolerance(result['queries']):.4f} "
                        f"({result['queries']} queries)")
    return problems


def cosine_bound(judge_torch: str) -> float:
    """How close the judge's rows must come to the reference model's: MIN_COSINE where the judge's process runs
    this process's torch, MIN_COSINE_OTHER_TORCH where it runs another version."""
    return MIN_COSINE if judge_torch == torch.__version__ else MIN_COSINE_OTHER_TORCH


def top1_tolerance(queries: int) -> float:
    """How far the judge's Top-1 may sit from evaluate's: half a point, or one query on a split under SMALL_SPLIT."""
    return 1 / queries if queries < SMALL_SPLIT else EVALUATE_TOLERANCE
