import json
import math
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
import zarr

from pipeline.config.data import PhotoVariation
from pipeline.config.features import FeatureSpec, ViewsConfig
from pipeline.config.section import ParamsError
from pipeline.training.feature_store import STORE_NAME, FeatureCache
from pipeline.training.features import data_fingerprint, extract, feature_key, image_table, text_table
from submission_src.backbone import Backbone

ROOT = Path(__file__).resolve().parents[1]


def _extract(spec, splits, out, chunk=16):
    return extract(spec.load_backbone(), spec, image_table(splits), text_table(splits), out, chunk=chunk, workers=0)


def test_round_trip_matches_the_backbone(tiny, tmp_path):
    _, spec, splits = tiny
    store = zarr.open_group(_extract(spec, splits, tmp_path / "c"), mode="r")
    images, texts = image_table(splits), text_table(splits)
    backbone = spec.load_backbone().eval()
    from PIL import Image

    pixels = torch.stack([backbone.preprocess(Image.open(p).convert("RGB")) for p in images.path[:5]])
    with torch.no_grad():
        expected_images = backbone.encode_image(pixels).numpy()
        expected_texts = backbone.encode_text(texts.text[:5].tolist()).numpy()
        expected_tokens = backbone.trunk(pixels, 1).numpy()
    np.testing.assert_allclose(store["image_embeddings"][:5], expected_images, atol=1e-5)
    np.testing.assert_allclose(store["text_embeddings"][:5], expected_texts, atol=1e-5)
    assert store["tail_inputs"].dtype == np.float16  # the largest array: half the bytes, within fp16 rounding
    np.testing.assert_allclose(store["tail_inputs"][:5], expected_tokens.astype(np.float16), atol=1e-5)


def test_shapes_dtypes_and_tables(tiny, tmp_path):
    _, spec, splits = tiny
    out = tmp_path / "c"
    store = zarr.open_group(_extract(spec, splits, out), mode="r")
    images = pd.read_parquet(out / "images.parquet")
    texts = pd.read_parquet(out / "texts.parquet")
    grid_tokens = (32 // 16) ** 2 + 1
    assert store["image_embeddings"].shape == (len(images), 32) and store["image_embeddings"].dtype == np.float32
    assert store["tail_inputs"].shape == (len(images), grid_tokens, 32)
    assert store["text_embeddings"].shape == (len(texts), 32)
    assert set(texts.kind) == {"query", "object"} and texts.text.is_unique
    assert images.path.is_unique and (images.row == np.arange(len(images))).all()
    norms = np.linalg.norm(store["image_embeddings"][:], axis=1)
    np.testing.assert_allclose(norms, 1, atol=1e-5)
    assert store.attrs["complete"] is True


def test_rows_follow_reference_groups(tiny):
    _, _, splits = tiny
    images = image_table(splits).set_index("path").row
    for split, source in splits.items():
        frame = source.load()
        first_reached = frame.drop_duplicates("target_image").groupby("query_image").target_image.apply(set)
        for reference, group in frame.groupby("query_image"):
            own = first_reached.get(reference, set())  # a target another reference reached first lies with that one
            rows = sorted(images[str(Path(source.images) / name)] for name in (reference, *own))
            assert rows == list(range(rows[0], rows[0] + len(rows))), (split, reference)
            shared = set(group.target_image) - own
            assert all(images[str(Path(source.images) / name)] < rows[0] for name in shared), (split, reference)
        assert frame.target_image.duplicated().any()  # the split has shared targets, so both cases are checked


def test_training_images_are_cached_in_each_view_and_other_splits_once(tiny, tmp_path):
    _, spec, splits = tiny
    views = ViewsConfig(count=3, photo=PhotoVariation(blur=1.0, jpeg_quality=(50, 60), cast=0.3, zoom=0.1))
    plain = image_table({"val": splits["test"]}, views)
    assert len(plain) == len(image_table(splits)) and (plain.view == 0).all() and (plain.look == "").all()
    train = {"train": splits["test"]}
    images = image_table(train, views)
    assert len(images) == 3 * len(plain) and all(v == [0, 1, 2] for v in images.groupby("path").view.apply(list))
    assert (images.view.to_numpy()[:3] == [0, 1, 2]).all()  # an image's views follow it
    assert images[images.view > 0].look.is_unique and images.equals(image_table(train, views))
    out = tmp_path / "c"
    extract(spec.load_backbone(), spec, images, text_table(train), out, chunk=16, workers=0)
    cache = FeatureCache.open(out)
    first = cache.images.view == 0
    as_they_are = FeatureCache.open(_extract(spec, train, tmp_path / "plain").parent)
    torch.testing.assert_close(cache.image_embeddings[torch.from_numpy(first.to_numpy(copy=True))],
                               as_they_are.image_embeddings, atol=1e-5, rtol=0)
    view_of = cache.images.set_index(["path", "view"]).row
    moved = [float((cache.image_embeddings[view_of[path, 0]] - cache.image_embeddings[view_of[path, 1]]).norm())
             for path in images.path.unique()]
    assert min(moved) > 1e-3  # every image's other look is another picture to the backbone


KILLABLE = textwrap.dedent("""
    import sys, time, torch
    from pipeline.data.dataset import SplitSource
    from pipeline.training.features import FeatureSpec, extract, image_table, text_table
    model, weights, csv, images_dir, out = sys.argv[1:]
    spec = FeatureSpec(model, weights, tail_blocks=1)
    backbone = spec.load_backbone()
    slow = backbone.preprocess
    backbone.preprocess = lambda im: (time.sleep(0.02), slow(im))[1]
    splits = {"test": SplitSource(csv, images_dir)}
    extract(backbone, spec, image_table(splits), text_table(splits), __import__("pathlib").Path(out), chunk=8,
            workers=0)
""")


def test_resume_after_sigkill_equals_a_clean_run(tiny, tmp_path, small_split):
    folder, spec, splits = tiny
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", KILLABLE, spec.model, spec.pretrained,
                             str(small_split / "data.csv"), str(small_split / "images"), str(out)],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    done = out / "chunks_done"
    deadline = time.time() + 120
    while time.time() < deadline:
        if done.is_dir() and len(list(done.iterdir())) >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / STORE_NAME).exists(), "the killed run must not leave a finished-looking store"
    assert 0 < len(list(done.iterdir())) < len(image_table(splits)) / 8

    resumed = zarr.open_group(_extract(spec, splits, out, chunk=8), mode="r")
    clean = zarr.open_group(_extract(spec, splits, tmp_path / "clean", chunk=8), mode="r")
    for name in ("image_embeddings", "tail_inputs", "text_embeddings"):
        np.testing.assert_array_equal(resumed[name][:], clean[name][:])


RANK = textwrap.dedent("""
    import sys, torch
    from pathlib import Path
    from pipeline.data.dataset import SplitSource
    from pipeline.training.features import FeatureSpec, extract, image_table, text_table
    rank, world, rendezvous, model, weights, csv, images_dir, out, fail_after = sys.argv[1:]
    from datetime import timedelta
    torch.distributed.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=int(rank),
                                         world_size=int(world), timeout=timedelta(seconds=60))
    spec = FeatureSpec(model, weights, tail_blocks=1)
    backbone = spec.load_backbone()
    if int(fail_after) >= 0:  # this rank dies after that many images, as a killed process would
        seen, encode = [0], backbone.preprocess
        def dying(image):
            seen[0] += 1
            if seen[0] > int(fail_after):
                import os; os._exit(1)
            return encode(image)
        backbone.preprocess = dying
    splits = {"test": SplitSource(csv, images_dir)}
    extract(backbone, spec, image_table(splits), text_table(splits), Path(out), chunk=8, workers=0,
            rank=int(rank), world_size=int(world))
""")


def _ranks(spec, small_split, tmp_path, out, name, fail_rank=-1, fail_after=-1):
    rendezvous = tmp_path / name
    procs = [subprocess.Popen([sys.executable, "-c", RANK, str(rank), "2", str(rendezvous), spec.model,
                               spec.pretrained, str(small_split / "data.csv"), str(small_split / "images"), str(out),
                               str(fail_after if rank == fail_rank else -1)],
                              cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}) for rank in range(2)]
    return [p.wait(timeout=300) for p in procs]


def test_two_gloo_ranks_equal_one_process_and_resume_after_a_rank_dies(tiny, tmp_path, small_split):
    _, spec, splits = tiny
    single = zarr.open_group(_extract(spec, splits, tmp_path / "single", chunk=8), mode="r")
    codes = _ranks(spec, small_split, tmp_path, tmp_path / "ranks", "first", fail_rank=1, fail_after=20)
    assert codes[1] != 0 and not (tmp_path / "ranks" / STORE_NAME).exists()
    assert 0 < len(list((tmp_path / "ranks" / "chunks_done").iterdir())) < math.ceil(len(image_table(splits)) / 8)
    assert _ranks(spec, small_split, tmp_path, tmp_path / "ranks", "second") == [0, 0]
    both = zarr.open_group(tmp_path / "ranks" / STORE_NAME, mode="r")
    for name in ("image_embeddings", "tail_inputs", "text_embeddings"):
        assert both[name].shape == single[name].shape
        assert np.abs(both[name][:] - single[name][:]).max() <= 1e-5
    tables = [pd.read_parquet(tmp_path / run / "images.parquet") for run in ("ranks", "single")]
    assert tables[0].equals(tables[1])


def test_key_isolates_backbones(tiny, tmp_path):
    folder, spec, _ = tiny
    backbone = spec.load_backbone()
    assert feature_key(spec, backbone) == feature_key(FeatureSpec(spec.model, spec.pretrained, 1), backbone)
    assert feature_key(spec, backbone) != feature_key(FeatureSpec(spec.model, spec.pretrained, 2), backbone)
    keys = {feature_key(spec, backbone)}
    for scope in ("image", "floor"):
        balanced = replace(spec, white_balance=scope).load_backbone()
        assert balanced.config["white_balance"] == scope and f"scope='{scope}'" in repr(balanced.preprocess)
        assert repr(Backbone.from_config(balanced.config).preprocess) == repr(balanced.preprocess)  # it ships
        keys.add(feature_key(replace(spec, white_balance=scope), balanced))
    assert "WhiteBalance" not in repr(backbone.preprocess) and len(keys) == 3
    with pytest.raises(ParamsError, match="backbone.white_balance is True"):
        replace(spec, white_balance=True)
    other = tmp_path / "other.pt"
    state = backbone.clip.state_dict()
    state["logit_scale"] = state["logit_scale"] + 1
    torch.save(state, other)
    assert feature_key(spec, backbone) != feature_key(FeatureSpec(spec.model, str(other), 1), backbone)
    assert feature_key(spec, backbone, data="fingerprint A") != feature_key(spec, backbone, data="fingerprint B")


def test_data_fingerprint_follows_the_text_table_and_the_views(tiny, tmp_path, monkeypatch):
    """The object phrases come from the web catalog, not the data: a changed catalog is other features too; and
    so are other views of the training images."""
    import pipeline.training.features as features

    _, _, splits = tiny
    test = splits["test"]
    monkeypatch.chdir(tmp_path)
    Path("data").mkdir()
    Path("data/dataset.json").write_text(json.dumps({"splits": {"test": {
        "csv": test.csv, "images": test.images, "holdout": None, "fingerprint": "abc"}}}))
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    Path("params.yaml").write_text(json.dumps(params))
    before = features.data_fingerprint()
    Path("params.yaml").write_text(json.dumps(params | {"views": params["views"] | {"count": 2}}))
    assert features.data_fingerprint() != before
    Path("params.yaml").write_text(json.dumps(params))
    catalog = features.load_web_catalog()
    monkeypatch.setattr(features, "load_web_catalog", lambda: catalog[:-1])
    assert features.data_fingerprint() != before


def test_docs_snippet_runs(tiny, tmp_path, monkeypatch):
    folder, spec, splits = tiny
    tail = yaml.safe_load((ROOT / "params.yaml").read_text())["tail"] | {"blocks": 1}
    (tmp_path / "params.yaml").write_text(json.dumps({
        "backbone": {"model": spec.model, "pretrained": spec.pretrained}, "tail": tail, "views": {}}))
    monkeypatch.chdir(tmp_path)
    Path("data").mkdir()
    test = splits["test"]
    Path("data/dataset.json").write_text(json.dumps({"splits": {"test": {
        "csv": test.csv, "images": test.images, "holdout": None, "fingerprint": "abc"}}}))
    _extract(spec, splits, Path("cache") / feature_key(spec, spec.load_backbone(), data_fingerprint()))
    docs = (ROOT / "docs" / "backbones.md").read_text()
    section = docs.split("## Inspect the cache with pandas", 1)[1]
    snippet = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(snippet, namespace)
    images, texts = namespace["images"], namespace["texts"]
    assert len(images) == len(image_table(splits)) and len(images.embedding[0]) == 32
    assert len(texts) == len(text_table(splits))
