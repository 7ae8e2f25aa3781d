"""Where a metrics file's figures come from, read from dvc.lock: the stage that wrote it, the md5 the lock recorded
for it, and whether that stage would rerun — its params, its project files or a stage upstream of it changed since
it ran. A figure from a stage that would rerun is from a model or code that no longer ships.

Only what a fresh clone holds is compared: params, and files and folders in git; a dep that another stage writes
(data, the cache, models) is judged by that stage, recursively. Hashes are DVC's: a file's md5, a folder's md5 of
its sorted (md5, relpath) list with `.dir` appended.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import yaml

LOCK = Path("dvc.lock")
PIPELINE = Path("dvc.yaml")
PARAMS = Path("params.yaml")


def md5(path: Path) -> str:
    """DVC's hash of a file or a folder."""
    if path.is_file():
        return hashlib.md5(path.read_bytes()).hexdigest()
    entries = sorted(({"md5": md5(f), "relpath": f.relative_to(path).as_posix()}
                      for f in path.rglob("*") if f.is_file()), key=lambda e: e["relpath"])
    return hashlib.md5(json.dumps(entries, sort_keys=True).encode()).hexdigest() + ".dir"


def _lookup(params: dict, key: str):
    value = params
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return KeyError  # a sentinel no params value equals
        value = value[part]
    return value


@dataclass(frozen=True)
class Provenance:
    path: Path
    stage: str | None  # None: not a DVC output (a script's or a benchmark's file)
    md5: str  # the lock's, or the file's own when no stage writes it
    stale: tuple[str, ...]  # why the stage would rerun; empty when it would not

    def footer(self, command: str) -> str:
        origin = f"`dvc.lock` stage `{self.stage}`" if self.stage else f"written by `{command}`, no DVC stage"
        return f"<sub>From `{self.path}`, md5 `{self.md5}` ({origin}).</sub>\n"


class Lock:
    """dvc.lock, dvc.yaml and params.yaml as they are in the working tree."""

    def __init__(self, root: Path = Path(".")):
        self.root = root
        read = lambda path: yaml.safe_load(path.read_text()) if path.is_file() else {}  # noqa: E731
        self.stages = read(root / LOCK).get("stages", {})
        self.declared = read(root / PIPELINE).get("stages", {})
        self.params = read(root / PARAMS)
        self._stale: dict[str, tuple[str, ...]] = {}

    @cached_property
    def outputs(self) -> dict[str, str]:
        """Every output path in dvc.lock -> the stage that writes it."""
        return {out["path"]: name for name, stage in self.stages.items() for out in stage.get("outs", [])}

    def producer(self, path: str) -> str | None:
        return next((stage for out, stage in self.outputs.items() if path == out or path.startswith(out + "/")),
                    None)

    def provenance(self, path: Path) -> Provenance:
        """`path`'s stage and recorded md5; raises when the file is not what the lock recorded."""
        stage = self.producer(str(path))
        if stage is None:
            return Provenance(path, None, md5(self.root / path), ())
        recorded = next(out["md5"] for out in self.stages[stage]["outs"] if out["path"] == str(path))
        if (actual := md5(self.root / path)) != recorded:
            raise ValueError(f"{path} (md5 {actual}) is not what dvc.lock's stage {stage} recorded ({recorded}): "
                             f"it was edited, or the lock was not committed with it; `dvc repro {stage}`")
        return Provenance(path, stage, recorded, self.stale(stage))

    def stale(self, stage: str) -> tuple[str, ...]:
        """Why `stage` would rerun, from what a fresh clone holds (its params, files in git, upstream stages)."""
        if stage not in self._stale:
            self._stale[stage] = ()  # a cycle cannot occur in DVC; this only guards the recursion
            self._stale[stage] = tuple(self._reasons(stage))
        return self._stale[stage]

    def _reasons(self, stage: str) -> list[str]:
        locked, declared = self.stages.get(stage), self.declared.get(stage)
        if locked is None or declared is None:
            return [f"stage {stage} is {'not in dvc.lock' if locked is None else 'gone from dvc.yaml'}"]
        reasons = [] if locked["cmd"] == declared["cmd"] else ["its command changed"]
        recorded = {dep["path"]: dep.get("md5") for dep in locked.get("deps", [])}
        listed = {d if isinstance(d, str) else next(iter(d)) for d in declared.get("deps", [])}
        reasons += [f"{path} became a dep" for path in sorted(listed - set(recorded))]
        for key, value in locked.get("params", {}).get(str(PARAMS), {}).items():
            if _lookup(self.params, key) != value:
                reasons.append(f"params {key} changed")
        for path, digest in recorded.items():
            if upstream := self.producer(path):
                reasons += [f"{path} comes from stage {upstream}, which would rerun"] if self.stale(upstream) else []
            elif not (self.root / path).exists():
                reasons.append(f"{path} is gone")
            elif md5(self.root / path) != digest:
                reasons.append(f"{path} changed")
        return reasons
