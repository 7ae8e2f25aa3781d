"""The own-data flow of docs/data.md, as a team runs it: `data.source` set to a challenge folder of about 100 triplets
(data.csv + images/; the smallest a team brings: a schedule of a few steps, a val split of a handful of queries),
a backbone from a config and a local checkpoint, `make demo`'s `dvc repro headline` from a copy of this repository
to a verified package; then one image changed on disk, and `dvc repro features` rebuilds the features instead of
reading stale ones. (`make ablations` adds only the analysis stages: augmentation, learning curve, speed.)"""
import json
from dataclasses import replace

import pandas as pd
import pytest
import torch
import yaml
from PIL import Image

from pipeline.data.catalog import load_catalog
from pipeline.measurement.project_copy import ROOT, dvc, tracked_copy
from pipeline.paths import CACHE_ROOT, CURRENT_CACHE, QUERY_TABLES, REPO, SUBMISSION_METRICS, TEAM_NAMES
from pipeline.pretrained import TAGGER, load_checkpoint
from pipeline.training.feature_store import STORE_NAME
from submission_src.weights import WEIGHTS_NAME, load_weights


@pytest.fixture(scope="module")
def challenge_folder(tmp_path_factory, small_config):
    """One folder in the challenge's shape (the dataset stage splits it 80/10/10 by reference image)."""
    from pipeline.data.synth import write_split

    folder = tmp_path_factory.mktemp("challenge")
    write_split(folder, "train", replace(small_config, references={"train": 28, "val": 0, "test": 0}))
    return folder


def test_own_data_from_dvc_repro_to_a_verified_package(tmp_path, challenge_folder, tiny):
    _, spec, _ = tiny  # a model-config JSON and a random-weight checkpoint file
    project = tracked_copy(tmp_path / "project")
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["data"].update(source=str(challenge_folder), references={"train": 4, "val": 2, "test": 2})
    params["backbone"].update(model=spec.model, pretrained=spec.pretrained)
    params["tail"]["blocks"] = 1  # the tiny ViT has two blocks
    params["adapter"].update(epochs=1, hidden=16)
    params["tail"].update(epochs=1)
    for split in ("out_of_generator", "look_shift"):  # scored beside the team's own val and test, whatever the source
        params[split]["references"] = 6
    params["names"]["adapt_steps"] = 3
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    triplets = pd.read_csv(challenge_folder / "data.csv")
    assert 90 <= len(triplets) <= 130 and triplets.target_image.duplicated().any()  # shared targets too
    first = dvc(project, "repro", "headline")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "Running stage 'train_tagger'" not in first.stdout  # the shipped tagger reads wording, never the data
    harvested = json.loads((project / TEAM_NAMES).read_text())  # but knows the names of the team's train split
    assert 0 < harvested["matched"] == harvested["texts"] < len(triplets)  # rigid texts, the training split's only
    assert set(harvested["names"]) <= {o.name.lower() for o in load_catalog()}
    packaged = load_weights(project / REPO / WEIGHTS_NAME)["tagger"]
    assert set(harvested["names"]) <= set(packaged["config"]["names"])
    shipped_tagger = load_checkpoint(project / TAGGER)["state_dict"]  # adapted to the team's names: not as shipped
    assert any(not torch.equal(packaged["state_dict"][k], v) for k, v in shipped_tagger.items())
    submission = json.loads((project / SUBMISSION_METRICS).read_text())
    assert submission["problems"] == [] and submission["min_cosine"] >= 0.999
    assert submission["queries"] == len(pd.read_parquet(project / QUERY_TABLES / "test_queries.parquet")) > 0
    assert {p.name for p in (project / QUERY_TABLES).iterdir()} == {"val_queries.parquet", "test_queries.parquet",
                                                                     "out_of_generator_queries.parquet",
                                                                     "look_shift_queries.parquet"}
    before = json.loads((project / CURRENT_CACHE).read_text())["key"]
    shipped = "pretrained/bootstrap/clip.fp16.pt"  # another backbone leaves the shipped stand-in as it was
    assert (project / shipped).read_bytes() == (ROOT / shipped).read_bytes()

    path = sorted((challenge_folder / "images").iterdir())[0]
    with Image.open(path) as image:
        changed = image.convert("RGB")
    changed.putpixel((0, 0), (255, 0, 255))  # one pixel of one image: other data
    changed.save(path)
    second = dvc(project, "repro", "features")
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    after = json.loads((project / CURRENT_CACHE).read_text())["key"]
    assert after != before and (project / CACHE_ROOT / after / STORE_NAME).is_dir()
    assert "Running stage 'features'" in second.stdout
