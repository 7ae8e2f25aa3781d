"""A copy of this repository as a fresh clone has it, for runs that must not touch the workspace (the own-data
test, the artists benchmark): the tracked files committed in a new git repository, with what set-up made."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from pipeline.data.artwork import ARTWORK_ROOT

ROOT = Path(__file__).resolve().parents[2]
GIT = ["git", "-c", "user.name=pipeline", "-c", "user.email=pipeline@localhost"]


def tracked_copy(destination: Path, root: Path = ROOT) -> Path:
    """`root`'s tracked files in `destination`, committed; the artwork set-up fetched is linked in."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, text=True, check=True)
    for name in filter(None, listed.stdout.split("\0")):
        if (root / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / name, destination / name)
    subprocess.run([*GIT, "init", "-q"], cwd=destination, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=destination, check=True)
    subprocess.run([*GIT, "commit", "-q", "-m", "a fresh clone"], cwd=destination, check=True)
    (destination / ARTWORK_ROOT.name).symlink_to(ARTWORK_ROOT)
    return destination


def dvc(project: Path, *args: str) -> subprocess.CompletedProcess:
    """`dvc <args>` in `project` with this interpreter's environment (its venv's tools on PATH)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=project, env=env, capture_output=True, text=True)


def reproduced_copy(destination: Path, data: dict, stage: str = "evaluate") -> Path:
    """A tracked copy of this repository in `destination` with `data` set in its params' data section, reproduced
    up to `stage`; what this workspace's `dvc.lock` names (the stand-in, the tagger) is checked out of its DVC
    cache, not retrained. A failing DVC command stops the run with its output."""
    project = tracked_copy(destination)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["data"].update(data)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for args in (("config", "--local", "cache.dir", str(ROOT / ".dvc" / "cache")), ("checkout",), ("repro", stage)):
        done = dvc(project, *args)
        if done.returncode != 0:
            raise SystemExit(f"{destination.name}: dvc {' '.join(args)} failed\n{done.stdout[-3000:]}"
                             f"{done.stderr[-3000:]}")
    return project
