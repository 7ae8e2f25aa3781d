"""The sweep's table: every DVC experiment of the current commit (`make sweep` runs them up to `evaluate`), the
params it changed and the trained tail's figures, read from the metrics each experiment committed, beside the
commit's own row; written to metrics/sweep.json (docs/results.md shows it: pipeline/measurement/report.py).
`dvc exp show` lists the same experiments with their params. A sweep against another commit stays in the file as
its own table, labelled by that commit: rows are only ever compared with their own baseline.

The choice reads val and the out-of-generator split only, never test: the best mean of the two Top-1s (val
alone where a row has no out-of-generator figure): val is our generator's own scenes, the other split a
renderer's we never trained on, and a team needs both. A row replaces the commit's recipe where it beats the
commit by more than NOISE_MARGIN: closer than that, the two are the same recipe as far as this CPU can tell, and
the tie goes to the best of the rows whose tail trained in at most CHEAPER of the commit's time (`train_tail`'s
seconds, from its training curve), else to the commit.

    python -m pipeline.measurement.sweep                       # `make sweep` ends with it
    python -m pipeline.measurement.sweep --baseline cd7e39e    # the table of a sweep run against another commit
    python -m pipeline.measurement.sweep --also 39fdffd        # with the rows of an earlier, equivalent commit
"""
from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

import yaml

from pipeline.paths import DIAGNOSIS_METRICS, EVAL_METRICS, METRICS
from pipeline.training.curves import live

SWEEP_METRICS = METRICS / "sweep.json"
METHOD = "adapter_tail"
# How far apart the mean of val and out-of-generator Top-1 came for two runs of the same function on the same
# data (fresh clones of 56b04ed and 8047b77, 2026-12-06: val 0.989 both, out-of-generator 0.908 and 0.902): the
# fp32 tail training is not bit-reproducible across runs on a CPU.
NOISE_MARGIN = 0.003
# A row is cheaper only at half the commit's training time or less: one host ran the same code 15-55 % slower
# from one day to the next (fresh clones of 2026-12-06 and 2026-12-07), never twice as slow.
CHEAPER = 0.5
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
    training = read(live(METHOD) / "metrics.json")
    params = _flat(yaml.safe_load(_git("show", f"{revision}:params.yaml")))
    changed = {key: value for key, value in params.items() if key not in base_params or base_params[key] != value}
    changed |= {key: None for key in base_params  # removed, unless a changed section says so (`section: null`
                if key not in params  # replacing its keys, or keys filling a section that was null)
                and not any(key.startswith(f"{other}.") or other.startswith(f"{key}.") for other in changed)}
    return {"changed": changed, **{column: _dig(files[name], path) for column, (name, path) in COLUMNS.items()},
            "tail_seconds": training.get("seconds")}


def choose(rows: dict[str, dict], margin: float = NOISE_MARGIN) -> str:
    """The row with the best mean of val and out-of-generator Top-1 (val alone where the other is missing) where
    it beats the commit's own row by more than `margin`; else the best of the rows within `margin` of the commit
    that trained in at most CHEAPER of the commit's time; else the commit."""
    def score(row: dict) -> float:
        figures = [f for f in (row["val"], row["out_of_generator"]) if f is not None]
        return sum(figures) / len(figures)
    scored = {name: row for name, row in rows.items() if row["val"] is not None}
    best = max(scored, key=lambda name: score(scored[name]))
    commit = scored.get("commit")
    if commit is None or score(scored[best]) - score(commit) > margin:
        return best
    cheaper = [name for name, row in scored.items() if score(row) >= score(commit) - margin
               and None not in (row.get("tail_seconds"), commit.get("tail_seconds"))
               and row["tail_seconds"] <= CHEAPER * commit["tail_seconds"]]
    return max(cheaper, key=lambda name: score(scored[name])) if cheaper else "commit"


def markdown(rows: dict[str, dict], chosen: str) -> str:
    head = "| experiment | changed params | " + " | ".join(COLUMNS) + " | train_tail min |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 3)]
    for name, r in rows.items():
        changed = ", ".join(f"`{k}={v}`" for k, v in r["changed"].items()) or "(the commit's params)"
        figures = " | ".join("" if r[c] is None else f"{r[c]:.3f}" for c in COLUMNS)
        minutes = "" if r.get("tail_seconds") is None else f"{r['tail_seconds'] / 60:.1f}"
        lines.append(f"| {'**' + name + '**' if name == chosen else name} | {changed} | {figures} | {minutes} |")
    return "\n".join(lines) + "\n"


def main(revision: str = "HEAD", also: tuple[str, ...] = ()) -> None:
    """Tables the experiments run against commit `revision` beside that commit's own row; the table replaces the
    last one (a sweep against an earlier commit compared recipes of code that no longer ships; git keeps it).
    `also`: earlier commits whose experiments join the table, each row's params read against its own commit's;
    only for commits that draw and train as `revision` does (their stage locks committed, not rerun)."""
    baseline = _git("rev-parse", revision).strip()
    rows = {"commit": row(baseline, _params(baseline))}
    for commit in (baseline, *(_git("rev-parse", c).strip() for c in also)):
        base_params = _params(commit)
        rows |= {name: row(ref, base_params) for name, ref in sorted(experiments(commit).items())}
    chosen = choose(rows)
    sweeps = [{"baseline": baseline, "chosen": chosen, "rows": rows}]
    SWEEP_METRICS.write_text(json.dumps({"sweeps": sweeps}, indent=2) + "\n")
    print(markdown(rows, chosen))


def _params(revision: str) -> dict:
    return _flat(yaml.safe_load(_git("show", f"{revision}:params.yaml")))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default="HEAD", help="the commit the experiments ran against (default: HEAD)")
    parser.add_argument("--also", nargs="*", default=(), help="earlier commits that draw and train as the baseline "
                        "does, whose experiments join its table")
    arguments = parser.parse_args()
    main(arguments.baseline, tuple(arguments.also))
