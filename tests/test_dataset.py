import shutil

import pandas as pd
import pytest

from pipeline.data.dataset import DatasetError, prepare_manifest, resolve_source, split_bucket, validate_folder


@pytest.fixture
def folder(tmp_path, small_split):
    copy = tmp_path / "challenge"
    shutil.copytree(small_split, copy)
    return copy


def test_valid_folder_passes(folder):
    table = validate_folder(folder)
    assert len(table) == len(pd.read_csv(folder / "data.csv"))


def test_missing_csv(tmp_path):
    with pytest.raises(DatasetError, match="data.csv does not exist"):
        validate_folder(tmp_path)


def test_missing_column_is_named(folder):
    pd.read_csv(folder / "data.csv").drop(columns="query_text").to_csv(folder / "data.csv", index=False)
    with pytest.raises(DatasetError, match="lacks column\\(s\\) query_text"):
        validate_folder(folder)


def test_empty_cell_names_the_line(folder):
    table = pd.read_csv(folder / "data.csv")
    table.loc[2, "query_text"] = "   "
    table.to_csv(folder / "data.csv", index=False)
    with pytest.raises(DatasetError, match="empty cells on line\\(s\\) 4"):
        validate_folder(folder)


def test_missing_images_are_named(folder):
    name = pd.read_csv(folder / "data.csv").target_image[0]
    (folder / "images" / name).unlink()
    with pytest.raises(DatasetError, match=f"missing from .*{name}"):
        validate_folder(folder)


def test_unreadable_image_is_named(folder):
    name = pd.read_csv(folder / "data.csv").query_image[0]
    path = folder / "images" / name
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(DatasetError, match=f"cannot be decoded: {name}"):
        validate_folder(folder)


def test_single_folder_is_split_by_reference_image(folder):
    splits = resolve_source(str(folder))
    frames = {name: s.load() for name, s in splits.items()}
    assert sum(len(f) for f in frames.values()) == len(pd.read_csv(folder / "data.csv"))
    for name, frame in frames.items():
        assert (frame.query_image.map(split_bucket) == name).all()


def test_manifest_fingerprint_follows_content(tmp_path, small_split):
    root = tmp_path / "src"
    for split in ("train", "val", "test"):
        shutil.copytree(small_split, root / split)
    before = prepare_manifest(str(root))
    assert prepare_manifest(str(root)) == before
    table = pd.read_csv(root / "val" / "data.csv")
    table.loc[0, "query_text"] = "add a cat"
    table.to_csv(root / "val" / "data.csv", index=False)
    after = prepare_manifest(str(root))
    assert after["splits"]["val"]["fingerprint"] != before["splits"]["val"]["fingerprint"]
    assert after["splits"]["test"]["fingerprint"] == before["splits"]["test"]["fingerprint"]
    image = next((root / "test" / "images").iterdir())
    image.touch()  # same bytes, new mtime: the same data
    assert prepare_manifest(str(root))["splits"]["test"]["fingerprint"] == before["splits"]["test"]["fingerprint"]
    image.write_bytes(image.read_bytes()[:-1] + b"\0")  # one byte changed: other data
    assert prepare_manifest(str(root))["splits"]["test"]["fingerprint"] != before["splits"]["test"]["fingerprint"]


def test_bad_source_is_rejected(tmp_path):
    with pytest.raises(DatasetError, match="is not a folder"):
        resolve_source(str(tmp_path / "nope"))
    with pytest.raises(DatasetError, match="expected"):
        resolve_source(str(tmp_path))
