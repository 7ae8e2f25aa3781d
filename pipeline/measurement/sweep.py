"""The sweep's table: every DVC experiment of the current commit (`make sweep` runs them up to `evaluate`), the
params it changed and the trained tail's figures, read from the metrics each experiment committed, beside the
commit's own row; written to metrics/sweep.json (docs/results.md shows it: pipeline/measurement/report.py).
`dvc exp show` lists the same experiments with their params. A sweep against another commit stays in the file as
its own table, labelled by that commit: rows are only ever compared with their own baseline.

The choice reads val and the out-of-generator split only, never test: the best mean of the two Top-1s (val
alone where a row has no out-of-generator figure): val is our generator's own scenes, the other split a
renderer's we never trained on, and a team needs both.

    python -m pipeline.measurement.sweep        # `make sweep` ends with it
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from pipeline.paths import DIAGNOSIS_METRICS, EVAL_METRICS, METRICS

SWEEP_METRICS = METRICS / "sweep.json"
METHOD = "adapter_tail"
COLUMNS = {  # column -> (file, path inside it)
    "val": ("eval", ("val", METHOD, "top1")),
    "test": ("eval", ("test", METHOD, "top1")),
    "test_plain": ("eval", ("test_plain", METHOD, "top1")),
    "out_of_generator": ("eval", ("out_of_generator", METHOD, "top1")),
    "oog_1+1": ("diagnosis", ("out_of_generator", METHOD, "by_shape", "1+1", "top1")),
    "test_2+2": ("diagnosis", ("test", METHOD, "by_shape", "2+2", "top1")),
    "test_unseen_company": ("diagnosis", ("test", METHOD, "by_company", "unseen", "top1")),
}


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout


def _flat(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out |= _flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def _dig(tree: dict, path: tuple[str, ...]):
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


def experiments(baseline: str) -> dict[str, str]:
    """Experiment name -> its git ref, for the experiments whose baseline is commit `baseline`."""
    refs = _git("for-each-ref", "--format=%(refname)", f"refs/exps/{baseline[:2]}/{baseline[2:]}/").split()
    return {ref.rsplit("/", 1)[1]: ref for ref in refs}


def row(revision: str, base_params: dict) -> dict:
    """One experiment's (or the commit's) changed params and figures."""
    def read(path: Path) -> dict:
        try:
            return json.loads(_git("show", f"{revision}:{path}"))
        except subprocess.CalledProcessError:
            return {}
    files = {"eval": read(EVAL_METRICS), "diagnosis": read(DIAGNOSIS_METRICS)}
    params = _flat(yaml.safe_load(_git("show", f"{revision}:params.yaml")))
    changed = {key: value for key, value in params.items() if key not in base_params or base_params[key] != value}
    changed |= {key: None for key in base_params  # removed, unless a changed section says so (`section: null`
                if key not in params  # replacing its keys, or keys filling a section that was null)
                and not any(key.startswith(f"{other}.") or other.startswith(f"{key}.") for other in changed)}
    return {"changed": changed, **{column: _dig(files[name], path) for column, (name, path) in COLUMNS.items()}}


def choose(rows: dict[str, dict]) -> str:
    """The row with the best mean of val and out-of-generator Top-1 (val alone where the other is missing)."""
    def score(row: dict) -> float:
        figures = [f for f in (row["val"], row["out_of_generator"]) if f is not None]
        return sum(figures) / len(figures)
    return max((name for name, row in rows.items() if row["val"] is not None), key=lambda name: score(rows[name]))


def markdown(rows: dict[str, dict], chosen: str) -> str:
    head = "| experiment | changed params | " + " | ".join(COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 2)]
    for name, r in rows.items():
        changed = ", ".join(f"`{k}={v}`" for k, v in r["changed"].items()) or "(the commit's params)"
        figures = " | ".join("" if r[c] is None else f"{r[c]:.3f}" for c in COLUMNS)
        lines.append(f"| {'**' + name + '**' if name == chosen else name} | {changed} | {figures} |")
    return "\n".join(lines) + "\n"


def earlier_sweeps(baseline: str) -> list[dict]:
    """The sweeps metrics/sweep.json holds against other commits, newest first."""
    if not SWEEP_METRICS.is_file():
        return []
    return [s for s in json.loads(SWEEP_METRICS.read_text())["sweeps"] if s["baseline"] != baseline]


def main() -> None:
    baseline = _git("rev-parse", "HEAD").strip()
    base_params = _flat(yaml.safe_load(_git("show", "HEAD:params.yaml")))
    rows = {"commit": row("HEAD", base_params)}
    rows |= {name: row(ref, base_params) for name, ref in sorted(experiments(baseline).items())}
    chosen = choose(rows)
    sweeps = [{"baseline": baseline, "chosen": chosen, "rows": rows}, *earlier_sweeps(baseline)]
    SWEEP_METRICS.write_text(json.dumps({"sweeps": sweeps}, indent=2) + "\n")
    print(markdown(rows, chosen))


if __name__ == "__main__":
    main()
