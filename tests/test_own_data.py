"""The README's own-data flow, as a team runs it: `data.source` set to a challenge folder (data.csv + images/), a
backbone from a config and a local checkpoint, `dvc repro` from a copy of this repository to a verified package;
then one image changed on disk, and `dvc repro` again rebuilds the features instead of reading stale ones."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from PIL import Image

from pipeline.feature_store import STORE_NAME
from pipeline.paths import CACHE_ROOT, CURRENT_CACHE, QUERY_TABLES, SUBMISSION_METRICS

ROOT = Path(__file__).resolve().parents[1]


def tracked_copy(destination: Path) -> Path:
    """The repository's tracked files, committed in a new git repository, as a fresh clone has them."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True)
    for name in filter(None, listed.stdout.split("\0")):
        if (ROOT / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, destination / name)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@localhost"]
    subprocess.run([*git, "init", "-q"], cwd=destination, check=True)
    subprocess.run([*git, "add", "-A"], cwd=destination, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "a fresh clone"], cwd=destination, check=True)
    return destination


def repro(project: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    return subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=project, env=env, capture_output=True,
                          text=True)


@pytest.fixture(scope="module")
def challenge_folder(tmp_path_factory, small_config):
    """One folder in the challenge's shape (the dataset stage splits it 80/10/10 by reference image)."""
    from pipeline.synth import write_split

    folder = tmp_path_factory.mktemp("challenge")
    write_split(folder, "train", small_config)
    return folder


def test_own_data_from_dvc_repro_to_a_verified_package(tmp_path, challenge_folder, tiny):
    _, spec, _ = tiny  # a model-config JSON and a random-weight checkpoint file
    project = tracked_copy(tmp_path / "project")
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["data"].update(source=str(challenge_folder), references={"train": 4, "val": 2, "test": 2})
    params["backbone"].update(model=spec.model, pretrained=spec.pretrained)
    params["features"]["tail_blocks"] = 1  # the tiny ViT has two blocks
    params["parser"].update(steps=40, buckets=4096, dim=16, hidden=16, layers=1)
    params["adapter"].update(epochs=1, hidden=16)
    params["tail"].update(epochs=1)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    first = repro(project)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    submission = json.loads((project / SUBMISSION_METRICS).read_text())
    assert submission["problems"] == [] and submission["min_cosine"] >= 0.999
    assert submission["queries"] == len(pd.read_parquet(project / QUERY_TABLES / "test_queries.parquet")) > 0
    assert {p.name for p in (project / QUERY_TABLES).iterdir()} == {"val_queries.parquet", "test_queries.parquet"}
    before = json.loads((project / CURRENT_CACHE).read_text())["key"]

    path = sorted((challenge_folder / "images").iterdir())[0]
    with Image.open(path) as image:
        changed = image.convert("RGB")
    changed.putpixel((0, 0), (255, 0, 255))  # one pixel of one image: other data
    changed.save(path)
    second = repro(project)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    after = json.loads((project / CURRENT_CACHE).read_text())["key"]
    assert after != before and (project / CACHE_ROOT / after / STORE_NAME).is_dir()
    assert "Running stage 'features'" in second.stdout
