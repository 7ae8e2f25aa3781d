"""The README's quick start, timed as a newcomer meets it: each `make` target in a fresh `git clone` of this
repository's HEAD of its own (set-up included: no `.venv`, no artwork, no DVC cache), one after another on this
machine. Each target's wall time, exit status and where the time went (set-up, then each DVC stage that ran, read
from the `Running stage` lines of its output) go to metrics/fresh_clone.json (a target measured again replaces its
own entry only), which README.md's quick start shows; each log, every line stamped with its second, stays in the
scratch folder.

Usage: python -m benchmarks.fresh_clone --targets demo test [--scratch /tmp/fresh-clone]
Run it with nothing else busy on the machine: the figure is a wall time.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import time
from pathlib import Path

from pipeline.measurement.benchmark_outputs import FRESH_CLONE_METRICS
from pipeline.measurement.project_copy import ROOT


def machine() -> str:
    """The CPU, whether it computes in bf16 (training's speed hangs on it: pipeline/training/precision.py), the
    core count and the OS."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    field = {line.split(":", 1)[0].strip(): line.split(":", 1)[1].strip() for line in reversed(lines) if ":" in line}
    cpu, flags = field.get("model name", platform.processor() or "unknown CPU"), set(field.get("flags", "").split())
    vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    bf16 = "bf16" if flags & {"avx512_bf16", "amx_bf16"} else "no bf16"
    return f"{cpu} ({vector}, {bf16}), {os.cpu_count()} CPU cores, {platform.system()} {platform.release()}"


STAGE_STARTS = re.compile(r"Running stage '([^']+)'")


def phases(marks: list[tuple[str, float]], end: float) -> dict[str, float]:
    """Seconds from each mark to the next (the last one to `end`), by the marks' names in order."""
    ends = [at for _, at in marks[1:]] + [end]
    return {name: round(stop - start, 1) for (name, start), stop in zip(marks, ends)}


def run_target(target: str, clone: Path, log: Path) -> dict:
    environment = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    started = time.time()
    marks = [("set-up", 0.0)]
    with log.open("w") as out, subprocess.Popen(["make", target], cwd=clone, stdout=subprocess.PIPE,
                                                stderr=subprocess.STDOUT, env=environment, text=True) as make:
        for line in make.stdout:
            elapsed = time.time() - started
            out.write(f"[{elapsed:7.1f}s] {line}")
            if stage := STAGE_STARTS.search(line):
                marks.append((stage.group(1), elapsed))
    seconds = time.time() - started
    result = {"seconds": round(seconds, 1), "exit_status": make.returncode}
    return result | {"phases": phases(marks, seconds)} if len(marks) > 1 else result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", nargs="+", default=["demo", "test"], help="make targets, run in this order")
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/fresh-clone"))
    args = parser.parse_args(argv)
    shutil.rmtree(args.scratch, ignore_errors=True)
    args.scratch.mkdir(parents=True)
    record = json.loads(FRESH_CLONE_METRICS.read_text()) if FRESH_CLONE_METRICS.is_file() else {"targets": {}}
    for target in args.targets:
        clone, log = args.scratch / target, args.scratch / f"make_{target}.log"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True, text=True,
                                check=True).stdout.strip()
        result = run_target(target, clone, log)
        result.update(commit=commit, date=datetime.date.today().isoformat(), machine=machine())
        record["targets"][target] = result
        print(f"make {target}: {result['seconds'] / 60:.1f} min, exit status {result['exit_status']}")
        FRESH_CLONE_METRICS.write_text(json.dumps(record, indent=2) + "\n")
        if result["exit_status"]:
            raise SystemExit(f"make {target} failed in the fresh clone: see {log}")


if __name__ == "__main__":
    main()
