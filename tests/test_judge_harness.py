"""The packaged repo the ways an organiser's harness may run it: import layouts, path types and bad rows, and the GPU
path (fp16, out-of-memory fallbacks, thread and memory caps) exercised on the CPU."""
import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from pipeline.shipping.judge_repo import LoadedRepo
from pipeline.shipping.verify import LAYOUTS, layout_agreement, run_like_the_judge


@pytest.fixture(scope="module")
def loaded(repo):
    return LoadedRepo.load(repo)


@pytest.fixture(scope="module")
def embedding(loaded):
    return loaded.module("embedding")


@pytest.fixture(scope="module")
def images(small_split):
    return sorted(str(p) for p in (small_split / "images").iterdir())[:6]


def _database(loaded, names) -> np.ndarray:
    return loaded.entry.encode_database(pd.DataFrame({"target_image": names}))


def test_every_harness_layout_gives_the_plain_rows(repo, small_split):
    """Plain import; the repo appended behind a harness folder holding its own model.py, weights.py and images.py;
    generate_embeds.py loaded by file path; pathlib paths relative to the working directory; each in a fresh process,
    from a copy of the repo under a path with spaces."""
    frame = pd.read_csv(small_split / "data.csv")
    plain = run_like_the_judge(repo, frame, small_split / "images")
    differences = layout_agreement(repo, frame, small_split / "images", plain)
    assert set(differences) == set(LAYOUTS) - {"plain"}
    assert max(differences.values()) < 1e-5


def test_the_appended_layout_catches_a_bare_sibling_import(repo, small_split, tmp_path):
    """The decoy harness bites: a generate_embeds that imports `model` by its bare name gets the harness's own."""
    bare = Path(shutil.copytree(repo, tmp_path / "bare"))
    entry = bare / "generate_embeds.py"
    entry.write_text(entry.read_text() + "\nfrom model import DeployedModel  # noqa\n")
    frame = pd.read_csv(small_split / "data.csv").iloc[:2]
    run_like_the_judge(bare, frame, small_split / "images")  # plain: the repo's own model.py comes first
    with pytest.raises(SystemExit, match="layout appended"):
        run_like_the_judge(bare, frame, small_split / "images", layout="appended")


def test_two_repos_in_one_process_keep_their_own_modules_and_weights(repo, loaded, images, tmp_path):
    other = Path(shutil.copytree(repo, tmp_path / "other"))
    payload = torch.load(other / "weights.pth", weights_only=True)
    payload["backbone"]["state_dict"] = {k: v + 0.01 * torch.randn_like(v) if v.is_floating_point() else v
                                         for k, v in payload["backbone"]["state_dict"].items()}
    torch.save(payload, other / "weights.pth")
    second = LoadedRepo.load(other)
    assert second.package is not loaded.package and second.module("images") is not loaded.module("images")
    assert not np.allclose(_database(second, images), _database(loaded, images), atol=1e-3)


def test_pathlike_and_relative_paths_give_the_rows_of_absolute_strings(loaded, images, monkeypatch):
    expected = _database(loaded, images)
    np.testing.assert_allclose(_database(loaded, [Path(n) for n in images]), expected, atol=1e-6)
    np.testing.assert_allclose(_database(loaded, [os.fsencode(n) for n in images]), expected, atol=1e-6)
    folder = Path(images[0]).parent
    monkeypatch.chdir(folder.parent)  # the folder that holds images/: bare names are found under it
    np.testing.assert_allclose(_database(loaded, [Path(n).name for n in images]), expected, atol=1e-6)
    np.testing.assert_allclose(_database(loaded, [Path(folder.name) / Path(n).name for n in images]), expected,
                               atol=1e-6)


def _one_bad_row(loaded, images, bad) -> np.ndarray:
    """The rows of the good images with `bad` in the middle: it is named in a warning and gets the placeholder."""
    names = images[:3] + [bad] + images[3:]
    with pytest.warns(UserWarning, match=r"1 row\(s\) with unreadable images .*rows 3$"):
        out = _database(loaded, names)
    assert out.shape == (len(names), out.shape[1]) and np.isfinite(out).all()
    np.testing.assert_allclose(np.delete(out, 3, axis=0), _database(loaded, images), atol=1e-6)
    return out[3]


def test_a_name_longer_than_the_filesystem_allows(loaded, images):
    _one_bad_row(loaded, images, "/tmp/" + "x" * 5000 + ".png")
    _one_bad_row(loaded, images, "x" * 300 + ".png")  # one path component over NAME_MAX, relative


def test_a_name_with_a_nul_byte_and_a_name_that_is_no_path(loaded, images):
    _one_bad_row(loaded, images, images[0] + "\0.png")
    _one_bad_row(loaded, images, 3.5)


@pytest.mark.parametrize("where", ["stat", "open"])
def test_permission_denied(loaded, images, monkeypatch, tmp_path, where):
    """As a user without read permission (the tests run as root, who may read anything, so the error is raised
    where the system would raise it: looking the file up, or opening it)."""
    denied = str(tmp_path / "denied.png")
    shutil.copy(images[0], denied)
    def refuse(real):
        def guarded(target, *args, **kwargs):
            if str(target) == denied:
                raise PermissionError(13, "Permission denied", denied)
            return real(target, *args, **kwargs)
        return guarded

    if where == "stat":
        monkeypatch.setattr(Path, "is_file", refuse(Path.is_file))
    else:
        monkeypatch.setattr(Image, "open", refuse(Image.open))
    _one_bad_row(loaded, images, denied)


def test_a_directory_named_like_an_image(loaded, images, tmp_path):
    (tmp_path / "folder.png").mkdir()
    _one_bad_row(loaded, images, str(tmp_path / "folder.png"))


def test_a_socket(loaded, images, tmp_path):
    path = tmp_path / "socket.png"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    try:
        _one_bad_row(loaded, images, str(path))
    finally:
        server.close()


def test_a_file_that_changes_while_it_is_read(loaded, images, monkeypatch, tmp_path):
    """Truncated between the lookup and the decode (another process rewriting it)."""
    changing = tmp_path / "changing.png"  # noise: larger than one read buffer, so the decoder reads it later
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (512, 512, 3), np.uint8)).save(changing)
    real_open = Image.open

    def open_then_truncate(fp, *args, **kwargs):
        image = real_open(fp, *args, **kwargs)
        if str(fp) == str(changing):
            changing.write_bytes(changing.read_bytes()[:200])
        return image

    monkeypatch.setattr(Image, "open", open_then_truncate)
    _one_bad_row(loaded, images, str(changing))


def test_most_rows_unreadable_is_said_loudly(loaded, images, capsys):
    names = ["missing-%d.png" % i for i in range(5)] + images[:2]
    with pytest.warns(RuntimeWarning, match=r"5 of 7 rows \(71 %\) have unreadable images.*rows 0, 1, 2, 3, 4\. "
                                            r"Relative names were looked for under .*images"):
        out = _database(loaded, names)
    assert out.shape[0] == 7 and "WARNING: 5 of 7 rows" in capsys.readouterr().err


def test_fp16_agrees_with_fp32_on_the_cpu(loaded, images, small_split):
    """The judge's GPU runs the backbone in fp16: the same weights in fp16 (here on the CPU) stay within rounding."""
    embedding = loaded.module("embedding")
    half = loaded.module("deployed").DeployedModel.load(loaded.folder / "weights.pth", "cpu", torch.float16)
    assert next(half.backbone.clip.parameters()).dtype == torch.float16
    frame = pd.read_csv(small_split / "data.csv").iloc[:12]
    queries = pd.DataFrame({"query_image": [str(small_split / "images" / n) for n in frame.query_image],
                            "query_text": frame.query_text})
    for rows, expected in ((embedding.encode_database(pd.DataFrame({"target_image": images}), half),
                            _database(loaded, images)),
                           (embedding.encode_queries(queries, half), loaded.entry.encode_queries(queries))):
        assert rows.dtype == np.float32 and (rows * expected).sum(axis=1).min() > 0.999


class OutOfMemoryAbove:
    """A stand-in for a full GPU: the wrapped function raises CUDA's out-of-memory error on batches larger than
    `limit` (or, with `every_other`, on every first try of a call), as torch does when a device runs out."""

    def __init__(self, fn, limit: int = 0, every_other: bool = False):
        self.fn, self.limit, self.every_other, self.calls = fn, limit, every_other, 0

    def __call__(self, batch, *args):
        self.calls += 1
        if (self.every_other and self.calls % 2) or (self.limit and len(batch) > self.limit):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return self.fn(batch, *args)


def test_out_of_memory_while_encoding_halves_the_batch(loaded, images, monkeypatch):
    model = loaded.model
    names = images * 4
    expected = _database(loaded, names)
    monkeypatch.setattr(model.backbone.clip, "encode_image", OutOfMemoryAbove(model.backbone.clip.encode_image, 5))
    monkeypatch.setattr(model.image_batches, "size", 256)
    np.testing.assert_allclose(_database(loaded, names), expected, atol=1e-5)
    assert model.image_batches.size <= 5


def test_out_of_memory_while_resizing_resizes_on_the_host(loaded, images, monkeypatch):
    model = loaded.model
    expected = _database(loaded, images)
    failing = OutOfMemoryAbove(model.pixels.__call__, every_other=True)
    monkeypatch.setattr(model, "pixels", type("Pixels", (), {"__call__": lambda self, *a: failing(*a),
                                                             "decode_chunk": model.pixels.decode_chunk})())
    np.testing.assert_allclose(_database(loaded, images), expected, atol=1e-6)
    assert failing.calls == 2  # one chunk: the device try, then the host


def test_cpu_quota_caps_the_decode_threads(embedding, tmp_path, monkeypatch):
    v2 = tmp_path / "cpu.max"
    v2.write_text("250000 100000\n")
    assert embedding.cpu_quota((str(v2),)) == 2.5
    v2.write_text("max 100000\n")
    assert embedding.cpu_quota((str(v2),)) is None
    v1 = tmp_path / "cpu" / "cpu.cfs_quota_us"
    v1.parent.mkdir()
    v1.write_text("400000\n")
    (v1.parent / "cpu.cfs_period_us").write_text("100000\n")
    assert embedding.cpu_quota((str(tmp_path / "missing"), str(v1))) == 4.0
    monkeypatch.setattr(embedding.os, "sched_getaffinity", lambda _: set(range(64)))
    monkeypatch.setattr(embedding, "cpu_quota", lambda: 4.0)  # a container that shows 64 cores under a 4-core quota
    assert embedding.usable_cores() == 4 and embedding._decode_threads(100) == 3


def test_decoded_images_waiting_for_the_device_stay_bounded(loaded, embedding, images, monkeypatch):
    seen = {}
    real = embedding._prefetched

    def spy(fn, items, threads, depth):
        seen.update(threads=threads, depth=depth)
        return real(fn, items, threads, depth)

    monkeypatch.setattr(embedding, "_prefetched", spy)
    monkeypatch.setattr(embedding, "usable_cores", lambda: 64)
    list(embedding.pixel_batches(images * 100, loaded.model))  # 19 chunks of 32
    assert seen["threads"] == 19 and seen["depth"] * embedding.CHUNK <= embedding.PENDING_IMAGES
