"""The packaged repo: built from a tiny model, then fed every kind of bad input the judge might send."""
import ast
import io
import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from pipeline.paths import ADAPTER, ADAPTER_TAIL
from pipeline.shipping.judge_repo import LoadedRepo
from pipeline.shipping.package import PACKAGE, ROOT_FILES, Shipment, build_repo
from pipeline.shipping.rehearsal import offline
from pipeline.shipping.verify import (
    MIN_COSINE,
    Interpreter,
    check,
    min_row_cosine,
    reference_model,
    reference_rows,
    run_like_the_judge,
)
from submission_src.fusion import FusionAdapter
from submission_src.weights import FORMAT, WeightsFormatError, load_weights

ROOT = Path(__file__).resolve().parents[1]
METRICS = {s: {"adapter_tail": {"top1": 0.5}} for s in ("val", "test")}


@pytest.fixture(scope="module")
def loaded(repo):
    """The packaged repo loaded in this process as a judge's harness loads it."""
    return LoadedRepo.load(repo)


@pytest.fixture(scope="module")
def embeds(loaded):
    """The repo's generate_embeds: what the judge calls."""
    return loaded.entry


@pytest.fixture(scope="module")
def embedding(loaded):
    return loaded.module("embedding")


@pytest.fixture(scope="module")
def shipped_images(loaded):
    """The repo's own images module."""
    return loaded.module("images")


@pytest.fixture(scope="module")
def odd_images(tmp_path_factory, small_split):
    folder = tmp_path_factory.mktemp("odd")
    base = Image.open(next((small_split / "images").iterdir())).convert("RGB")
    base.convert("CMYK").save(folder / "cmyk.jpg")
    base.convert("RGBA").save(folder / "rgba.png")
    base.convert("P").save(folder / "palette.png")
    base.convert("L").save(folder / "grey.png")
    Image.fromarray((np.asarray(base.convert("L"), np.uint16) * 256)).save(folder / "sixteen.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90°
    base.save(folder / "exif.jpg", exif=exif)
    Image.new("RGB", (1, 1), "red").save(folder / "tiny.png")
    Image.new("RGB", (4000, 3), "blue").save(folder / "wide.png")
    (folder / "empty.jpg").write_bytes(b"")
    buffer = io.BytesIO()
    base.save(buffer, "JPEG")
    (folder / "truncated.jpg").write_bytes(buffer.getvalue()[:300])
    (folder / "text.jpg").write_text("not an image")
    return folder


GOOD = ["cmyk.jpg", "rgba.png", "palette.png", "grey.png", "sixteen.png", "exif.jpg", "tiny.png", "wide.png"]
BAD = ["missing.jpg", "empty.jpg", "truncated.jpg", "text.jpg"]


def _assert_unit_rows(array, rows):
    assert array.dtype == np.float32 and array.shape[0] == rows
    assert np.isfinite(array).all()
    np.testing.assert_allclose(np.linalg.norm(array, axis=1), 1, atol=1e-4)


def test_database_survives_odd_and_broken_images(embeds, odd_images):
    names = [str(odd_images / n) for n in GOOD + BAD]
    with pytest.warns(UserWarning, match=r"4 row\(s\) with unreadable images.*rows 8, 9, 10, 11"):
        out = embeds.encode_database(pd.DataFrame({"target_image": names}))
    _assert_unit_rows(out, len(names))


def test_queries_survive_odd_texts(embeds, odd_images):
    texts = ["", "   ", float("nan"), 123, None, "add a cat " * 500, "添加一只猫并删除狗", "Remove the dog!",
             "x" * 10_000, "🙂🐱🚗", "12345"]
    df = pd.DataFrame({"query_image": [str(odd_images / "grey.png")] * len(texts), "query_text": texts})
    with pytest.warns(UserWarning, match=r"text that is not a string.*rows 2, 3, 4"):
        out = embeds.encode_queries(df)
    _assert_unit_rows(out, len(texts))
    reference = embeds.encode_database(df.rename(columns={"query_image": "target_image"}))
    assert out.shape[1] == reference.shape[1]
    np.testing.assert_allclose(out[:5], reference[:5], atol=1e-5)  # no edit in the text: the reference image
    assert not np.allclose(out[7], reference[7], atol=1e-3)  # "Remove the dog!" edits it


def test_order_is_kept_and_duplicates_agree(embeds, odd_images):
    names = [str(odd_images / n) for n in GOOD]
    df = pd.DataFrame({"query_image": names + names[:2], "query_text": ["add a cat"] * 8 + ["add a cat"] * 2})
    out = embeds.encode_queries(df)
    np.testing.assert_allclose(out[8:], out[:2], atol=1e-6)
    shuffled = embeds.encode_queries(df.iloc[::-1].reset_index(drop=True))
    np.testing.assert_allclose(shuffled[::-1], out, atol=1e-5)


def test_bad_rows_are_named_across_decode_chunks(embeds, embedding, odd_images):
    rows = 2 * embedding.CHUNK + 5
    names = [str(odd_images / GOOD[i % len(GOOD)]) for i in range(rows)]
    for row in (0, embedding.CHUNK + 1, rows - 1):
        names[row] = str(odd_images / "truncated.jpg")
    with pytest.warns(UserWarning, match=rf"rows 0, {embedding.CHUNK + 1}, {rows - 1}$"):
        out = embeds.encode_database(pd.DataFrame({"target_image": names}))
    _assert_unit_rows(out, rows)
    np.testing.assert_allclose(out[1], out[1 + len(GOOD)], atol=1e-6)  # the same file, in another chunk


@pytest.mark.parametrize("resize_mode", ["shortest", "squash", "longest"])
def test_pixel_pipeline_matches_the_pil_transform(shipped_images, small_split, resize_mode):
    from open_clip.transform import PreprocessCfg, image_transform_v2

    transform = image_transform_v2(PreprocessCfg(size=40, resize_mode=resize_mode), is_train=False)
    pixels = shipped_images.PixelPipeline(transform, "cpu", torch.float32)
    assert pixels.on_device == (resize_mode != "longest")  # open_clip's `longest` resize only takes PIL images
    names = [str(p) for p in sorted((small_split / "images").iterdir())[:3]]
    sizes = [(96, 64), (50, 50), (96, 64)]  # two sizes: batched per size, order kept
    for name, size in zip(names, sizes):
        Image.open(name).convert("RGB").resize(size).save(name + ".png")
    arrays = [pixels.decode(name + ".png")[0] for name in names]
    flat = torch.from_numpy(np.concatenate([a.reshape(-1) for a in arrays]))
    batch = pixels(flat, torch.tensor([a.shape[:2] for a in arrays]))
    expected = torch.stack([transform(Image.open(name + ".png").convert("RGB")) for name in names])
    assert batch.shape == expected.shape == (3, 3, 40, 40)
    grey_level = 1 / 255 / min(transform.transforms[-1].std)
    # Antialiased resizes differ at sharp edges (OpenMoji's black outlines): a few pixels by up to 5 grey levels.
    assert (batch - expected).abs().max() < 5 * grey_level and (batch - expected).abs().mean() < 0.25 * grey_level


def test_white_balance_undoes_a_colour_cast_the_same_on_both_paths(shipped_images, small_split):
    """A scene under a colour cast reaches the tower as the scene does, within rounding and up to its brightness;
    a grey-floored scene is left almost as it is; the PIL path and the batched tensor path agree."""
    from open_clip.transform import PreprocessCfg, image_transform_v2

    balance = shipped_images.WhiteBalance()
    scene = np.asarray(Image.open(next((small_split / "images").iterdir())).convert("RGB").resize((64, 64)))
    cast = (scene * np.array([1.0, 0.85, 0.6])).astype(np.uint8)  # no channel clipped

    def as_tensor(pixels: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.array(pixels)).permute(2, 0, 1)

    scene_t, cast_t = as_tensor(scene), as_tensor(cast)
    balanced, balanced_cast = balance(torch.stack([scene_t, cast_t])).float()
    assert (balanced - scene_t.float()).abs().mean() < 4  # the floor was grey already
    brightness = balanced_cast.sum() / balanced.sum()
    assert (balanced_cast - brightness * balanced).abs().mean() < 4 < (cast_t.float() - scene_t.float()).abs().mean()
    via_pil = torch.from_numpy(np.asarray(balance(Image.fromarray(cast)))).permute(2, 0, 1).float()
    assert torch.equal(via_pil, balanced_cast)
    transform = shipped_images.with_white_balance(image_transform_v2(PreprocessCfg(size=40), is_train=False), "image")
    assert [type(t).__name__ for t in transform.transforms].index("WhiteBalance") == 2  # after resize and crop
    pixels = shipped_images.PixelPipeline(transform, "cpu", torch.float32)
    flat = torch.from_numpy(cast.reshape(-1).copy())
    grey_level = 1 / 255 / min(transform.transforms[-1].std)
    assert (pixels(flat, torch.tensor([[64, 64]]))[0] - transform(Image.fromarray(cast))).abs().mean() < grey_level


def test_floor_white_balance_greys_a_tinted_floor_and_keeps_the_objects_colours(shipped_images):
    """On a tinted floor with a light ramp, grain and a shadow, the floor scope balances the floor (shadow included)
    and leaves a white and a blue object as they are; the image scope turns the white object the floor's complement."""
    generator = torch.Generator().manual_seed(0)
    ramp = torch.linspace(0.8, 1.1, 96).view(1, 1, 96)
    floor = torch.tensor([190.0, 125.0, 80.0]).view(3, 1, 1) * ramp * torch.ones(3, 96, 96)
    floor += 4 * torch.randn(1, 96, 96, generator=generator)
    floor[:, 60:80, 20:50] *= 0.6  # a soft shadow is the floor, darker
    scene = floor.clone()
    scene[:, 10:40, 10:40] = 235.0
    scene[:, 10:40, 56:86] = torch.tensor([40.0, 70.0, 200.0]).view(3, 1, 1)
    scene = scene.round().clamp(0, 255).to(torch.uint8)

    def spread(pixels: torch.Tensor) -> float:  # how far from grey, mean over the region
        pixels = pixels.float()
        return (pixels.amax(dim=0) - pixels.amin(dim=0)).mean().item()

    by_floor = shipped_images.WhiteBalance("floor")(scene)
    by_image = shipped_images.WhiteBalance("image")(scene)
    open_floor, shadow, white, blue = (np.s_[:, 45:58, 45:90], np.s_[:, 63:77, 23:47], np.s_[:, 12:38, 12:38],
                                       np.s_[:, 12:38, 58:84])
    assert spread(by_floor[open_floor]) < 12 < 60 < spread(scene[open_floor])
    assert spread(by_floor[shadow]) < 12 < 35 < spread(scene[shadow])
    for region in (white, blue):
        assert (by_floor[region].float() - scene[region].float()).abs().mean() < 2
    assert spread(by_image[white]) > 60
    via_pil = np.asarray(shipped_images.WhiteBalance("floor")(Image.fromarray(scene.permute(1, 2, 0).numpy())))
    assert torch.equal(torch.from_numpy(via_pil).permute(2, 0, 1), by_floor)
    with pytest.raises(ValueError, match="one of image, floor"):
        shipped_images.WhiteBalance("objects")


def test_database_embeddings_equal_the_plain_open_clip_path(embeds, loaded, small_split):
    """Threads, packed buffers and device-side resizing give what PIL transform → image tower gives, row for
    row, up to the resize's grey-level differences (and fp16 where there is a GPU)."""
    model = loaded.model
    names = [str(p) for p in sorted((small_split / "images").iterdir())[:40]]
    reference = torch.stack([model.backbone.preprocess(Image.open(n).convert("RGB")) for n in names])
    with torch.no_grad():
        expected = torch.nn.functional.normalize(
            model.backbone.clip.encode_image(reference.to(model.device, model.dtype)).float(), dim=-1).cpu().numpy()
    out = embeds.encode_database(pd.DataFrame({"target_image": names}))
    error = np.linalg.norm(out - expected, axis=1)
    between_images = np.linalg.norm(expected[1:] - expected[:-1], axis=1)
    assert error.max() < 0.3 * np.median(between_images)  # a row swap or a colour mix-up is far above


def test_decoding_runs_ahead_in_order_and_bounded(embedding):
    started, received = [], []

    def work(item):
        started.append(item)
        return item

    for item in embedding._prefetched(work, list(range(60)), threads=3, depth=5):
        assert len(started) <= item + 5  # never more than `depth` items ahead of the consumer
        received.append(item)
    assert received == list(range(60))


def test_large_jpegs_decode_at_a_reduced_scale(shipped_images, tmp_path):
    Image.new("RGB", (1600, 1200), "green").save(tmp_path / "big.jpg")
    image, ok = shipped_images.load_rgb(str(tmp_path / "big.jpg"), min_side=300)
    assert ok and image.size == (400, 300)  # 1/4 scale: the largest reduction that keeps the short side ≥ 300
    assert shipped_images.load_rgb(str(tmp_path / "big.jpg"))[0].size == (1600, 1200)


def test_reduced_scale_decoding_keeps_the_embedding(embeds, loaded, small_split, tmp_path, monkeypatch):
    model = loaded.model
    names = []
    for i, source in enumerate(sorted((small_split / "images").iterdir())[:16]):
        names.append(str(tmp_path / f"big{i}.jpg"))
        Image.open(source).convert("RGB").resize((224, 168), Image.BICUBIC).save(names[-1], quality=90)
    reference = torch.stack([model.backbone.preprocess(Image.open(n).convert("RGB")) for n in names])
    with torch.no_grad():
        expected = torch.nn.functional.normalize(
            model.backbone.clip.encode_image(reference.to(model.device, model.dtype)).float(), dim=-1).cpu().numpy()
    out = embeds.encode_database(pd.DataFrame({"target_image": names}))
    assert model.pixels.decode(names[0])[0].shape[:2] == (84, 112)  # 1/2 scale: the short side ≥ twice the input
    assert (out * expected).sum(axis=1).min() >= 0.999
    monkeypatch.setattr(model.pixels, "min_side", model.pixels.min_side // 2)  # decoding down to the input size
    assert model.pixels.decode(names[0])[0].shape[:2] == (42, 56)
    drifted = embeds.encode_database(pd.DataFrame({"target_image": names}))
    assert (drifted * expected).sum(axis=1).min() < (out * expected).sum(axis=1).min()


def test_each_distinct_image_is_decoded_once(embeds, shipped_images, odd_images, monkeypatch):
    opened, load = [], shipped_images.load_rgb
    monkeypatch.setattr(shipped_images, "load_rgb", lambda name, *args: (opened.append(name), load(name, *args))[1])
    files = [str(odd_images / n) for n in ("grey.png", "missing.jpg", "grey.png", "tiny.png", "missing.jpg")]
    with pytest.warns(RuntimeWarning, match=r"4 of 7 rows .* rows 1, 4, 5, 6\."):  # most rows: the loud warning
        out = embeds.encode_database(pd.DataFrame({"target_image": files + [float("nan"), None]}))
    assert sorted(n for n in opened if isinstance(n, str)) == sorted(set(files))
    assert sum(not isinstance(n, str) for n in opened) == 1  # NaN and None: one placeholder
    _assert_unit_rows(out, 7)
    np.testing.assert_array_equal(out[0], out[2])
    assert not np.allclose(out[0], out[3])


def test_empty_frame_and_missing_column(embeds):
    assert embeds.encode_database(pd.DataFrame({"target_image": []})).shape[0] == 0
    assert embeds.encode_queries(pd.DataFrame({"query_image": [], "query_text": []})).dtype == np.float32
    with pytest.raises(KeyError, match="query_text"):
        embeds.encode_queries(pd.DataFrame({"query_image": ["a.jpg"]}))


def test_repo_ships_every_concept_and_imports_nothing_from_the_pipeline(repo):
    assert sorted(p.name for p in repo.glob("*.py")) == sorted(ROOT_FILES)  # the two files the challenge names
    package = repo / PACKAGE
    source = ROOT / "submission_src"
    assert sorted(p.name for p in package.glob("*.py")) == sorted(p.name for p in source.glob("*.py"))
    own = {p.stem for p in package.glob("*.py")} | {p.stem for p in repo.glob("*.py")}
    for path in [*repo.glob("*.py"), *package.glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                continue  # relative: the package's own modules, whatever name it is loaded under
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) else [])
            tops = {name.split(".")[0] for name in names}
            assert not tops & {"pipeline", "stages", "submission_src"}, path
            assert not tops & own, f"{path.name} imports a sibling by a bare name a harness may also hold"
    payload = torch.load(repo / "weights.pth", weights_only=True)
    assert payload["format"] == FORMAT
    assert set(payload) >= {"backbone", "adapter", "tagger", "method", "tail_blocks"}
    assert {t.dtype for t in payload["backbone"]["state_dict"].values() if t.is_floating_point()} == {torch.float16}


def test_weights_of_another_format_stop_with_their_name(repo, tmp_path):
    payload = torch.load(repo / "weights.pth", weights_only=True)
    assert load_weights(repo / "weights.pth")["method"] == payload["method"]
    older = tmp_path / "weights.pth"
    torch.save({**payload, "format": 2}, older)
    with pytest.raises(WeightsFormatError, match=rf"{re.escape(str(older))} is weights format 2; .* format {FORMAT}"):
        load_weights(older)
    torch.save([1, 2], older)  # not a weights file at all
    with pytest.raises(WeightsFormatError, match="format None"):
        load_weights(older)


def test_judge_run_offline_matches_in_process(repo, small_split, embeds):
    frame = pd.read_csv(small_split / "data.csv")
    result = run_like_the_judge(repo, frame, small_split / "images").result
    assert result["shapes_ok"] and result["finite"] and result["queries"] == len(frame)
    assert result["caches_left_empty"]
    database = pd.DataFrame({"target_image": [str(small_split / "images" / n) for n in pd.unique(frame.target_image)]})
    queries = frame.assign(query_image=[str(small_split / "images" / n) for n in frame.query_image])
    scores = embeds.encode_queries(queries) @ embeds.encode_database(database).T
    position = {Path(n).name: i for i, n in enumerate(database.target_image)}
    expected = float(np.mean(scores.argmax(1) == np.array([position[t] for t in frame.target_image])))
    assert math.isclose(result["top1"], expected, abs_tol=1e-9)
    assert check(result, expected) == []
    assert check(result, expected + 0.1)  # a Top-1 that disagrees is reported


def test_verify_holds_the_judges_top1_within_half_a_point_or_one_query_of_evaluates():
    sound = {"size_bytes": 1, "shapes_ok": True, "finite": True, "max_norm_error": 0.0, "dtype": "float32"}
    assert check(sound | {"top1": 0.960, "queries": 750}, 0.964) == []
    assert check(sound | {"top1": 0.958, "queries": 750}, 0.964)  # 0.6 points on a split of 750
    assert check(sound | {"top1": 14 / 15, "queries": 15}, 1.0) == []  # one query of 15
    assert check(sound | {"top1": 13 / 15, "queries": 15}, 1.0)  # two


def _trained_shipment(spec, seed: int) -> Shipment:
    """An adapter_tail as training leaves it: a nonzero correction and tail weights that moved."""
    torch.manual_seed(seed)
    adapter = FusionAdapter(32, 16, text=False)
    torch.nn.init.normal_(adapter.correction[-1].weight, std=0.3)
    tail = {name: param.detach() + 0.05 * torch.randn_like(param)
            for name, param in spec.load_backbone().tail_parameters(1).items()}
    return Shipment("adapter_tail", "a test", adapter.saved(), tail, 1)


def _agreement(repo: Path, reference, frame: pd.DataFrame, images: Path) -> float:
    """The repo's worst row, loaded as a judge's harness loads it, against `reference`'s rows of the same items."""
    entry = LoadedRepo.load(repo).entry
    located = [str(images / n) for n in frame.query_image]
    queries = entry.encode_queries(pd.DataFrame({"query_image": located, "query_text": frame.query_text}))
    database = entry.encode_database(pd.DataFrame({"target_image": [str(images / n)
                                                                    for n in pd.unique(frame.target_image)]}))
    expected_queries, expected_database = reference_rows(reference, frame, images)
    return min(min_row_cosine(queries, expected_queries), min_row_cosine(database, expected_database))


def test_verify_passes_correct_packages_with_margin_and_fails_wrong_parts(tiny, trained_tagger, small_split,
                                                                          tmp_path):
    """The judge's rows against the same model built from the pipeline's parts (like with like): three correctly
    packaged seeds stay a hundred times closer than the bound, and a dropped adapter, a wrong tail or a wrong
    tokenizer each fall below it."""
    _, spec, _ = tiny
    frame, images = pd.read_csv(small_split / "data.csv"), small_split / "images"
    tagger = trained_tagger[0].saved()
    for seed in range(3):
        shipment = _trained_shipment(spec, seed)
        repo = build_repo(tmp_path / f"seed{seed}", spec, shipment, tagger, METRICS, {})
        assert _agreement(repo, reference_model(spec, shipment, tagger), frame, images) > 1 - (1 - MIN_COSINE) / 100

    trained = _trained_shipment(spec, 7)
    expected = reference_model(spec, trained, tagger)
    untrained = FusionAdapter(32, 16, text=False).saved()
    broken = {"dropped adapter": Shipment("adapter_tail", "a test", untrained, trained.tail, 1),
              "wrong tail": Shipment("adapter_tail", "a test", trained.adapter, {}, 1)}
    for what, shipment in broken.items():
        repo = build_repo(tmp_path / what.replace(" ", "_"), spec, shipment, tagger, METRICS, {})
        assert _agreement(repo, expected, frame, images) < MIN_COSINE, what
    repo = build_repo(tmp_path / "right_parts", spec, trained, tagger, METRICS, {})
    right = expected.backbone.tokenizer
    expected.backbone.tokenizer = lambda texts: right([t[::-1] for t in texts])  # other token ids for each text
    assert _agreement(repo, expected, frame, images) < MIN_COSINE, "wrong tokenizer"
    problems = check({"size_bytes": 1, "shapes_ok": True, "finite": True, "max_norm_error": 0.0, "dtype": "float32",
                      "top1": 0.5, "queries": 10, "min_cosine": 0.99}, 0.5)
    assert problems and "not what was trained" in problems[0]


def test_a_judge_on_another_torch_is_held_to_the_cross_version_bound():
    """Another torch's kernels move rows by about 1e-4 (the rehearsal's Python 3.10 venv): that passes there and
    fails where the judge runs this process's torch; a wrong part fails on either."""
    judged = {"size_bytes": 1, "shapes_ok": True, "finite": True, "max_norm_error": 0.0, "dtype": "float32",
              "top1": 0.5, "queries": 10, "min_cosine": 0.9995}
    assert check(judged | {"torch": "2.5.1"}, 0.5) == []
    assert "not what was trained" in check(judged | {"torch": torch.__version__}, 0.5)[0]
    assert "not what was trained" in check(judged | {"torch": "2.5.1", "min_cosine": 0.99}, 0.5)[0]


def test_auto_ships_the_best_fine_tuned_method_never_the_unmodified_backbone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ADAPTER.parent.mkdir(parents=True)
    ADAPTER_TAIL.parent.mkdir(parents=True)
    trained = FusionAdapter(32, 16)
    torch.nn.init.normal_(trained.correction[-1].weight)
    torch.save(trained.saved(), ADAPTER)
    torch.save({"adapter": trained.saved(), "tail": {"visual.proj": torch.zeros(1)}, "tail_blocks": 2}, ADAPTER_TAIL)
    val = lambda a, b, c: {"arithmetic": {"top1": a}, "adapter": {"top1": b}, "adapter_tail": {"top1": c}}  # noqa: E731
    best = Shipment.choose("auto", val(0.5, 0.7, 0.6))
    assert best.method == "adapter" and best.tail == {} and "adapter 0.7000" in best.reason
    assert Shipment.choose("auto", val(0.5, 0.6, 0.7)).tail_blocks == 2
    assert Shipment.choose("auto", val(0.8, 0.8, 0.8)).method == "adapter"  # a tie: fewer learned parameters
    assert Shipment.choose("auto", val(0.9, 0.6, 0.7)).method == "adapter_tail"  # arithmetic best, never shipped
    with pytest.warns(UserWarning, match="forbid"):
        forced = Shipment.choose("arithmetic", val(0.9, 0.6, 0.7))
    rule = FusionAdapter.from_saved(forced.adapter)
    image, add, remove, text = (torch.randn(3, 32) for _ in range(4))
    torch.testing.assert_close(rule(image, add, remove, text), F.normalize(image + add - remove, dim=-1))
    assert Shipment.choose("adapter_tail", val(0.9, 0.8, 0.1)).method == "adapter_tail"
    with pytest.raises(SystemExit, match="package.method 'best'"):
        Shipment.choose("best", val(0.5, 0.6, 0.7))


def test_model_card_says_what_the_final_model_contains(repo):
    card = (repo / "README.md").read_text()
    for words in ("image tower", "Fine-tuned for this task", "Query tagger", "bidirectional LSTM",
                  "No LLM and no object detector", "text-generator (LLM) sessions"):
        assert words in card, words


def test_judge_run_in_a_clean_environment_without_network(repo, small_split, tmp_path):
    """The rehearsal's way (a network namespace where this machine allows one, only PATH and a locale set, HOME and
    every cache in folders that must stay empty) gives the rows the pipeline's way gives; a write to HOME is caught."""
    frame = pd.read_csv(small_split / "data.csv")
    plain = run_like_the_judge(repo, frame, small_split / "images")
    network = offline()
    judge = Interpreter(sys.executable, network.prefix, network.prelude, clean_env=True)
    cut = run_like_the_judge(repo, frame, small_split / "images", interpreter=judge)
    assert cut.result["caches_left_empty"] and cut.result["top1"] == plain.result["top1"]
    np.testing.assert_allclose(cut.queries, plain.queries, atol=1e-5)
    writer = Path(shutil.copytree(repo, tmp_path / "writes_home"))
    (writer / "generate_embeds.py").write_text((repo / "generate_embeds.py").read_text()
                                               + "\nPath.home().joinpath('.cache').mkdir()\n"
                                               "Path.home().joinpath('.cache', 'token').write_text('x')\n")
    assert not run_like_the_judge(writer, frame, small_split / "images", interpreter=judge).result["caches_left_empty"]


def test_publish_dry_run_lists_files_offline(repo, capsys, monkeypatch):
    from pipeline.shipping import publish

    monkeypatch.delenv("HF_TOKEN", raising=False)
    assert publish.main(["--repo-id", "someone/cir", "--folder", str(repo), "--dry-run"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in ("weights.pth", "generate_embeds.py", "model.py", "requirements.txt"))
    assert publish.main(["--repo-id", "someone/cir", "--folder", str(repo)]) == 2  # no token: refuses, uploads nothing


OFFLINE = ("NewConnectionError", "Network is unreachable", "No route to host", "Name or service not known",
           "Temporary failure in name resolution", "ConnectTimeout")


def test_submission_requirements_resolve_for_python_310(tmp_path):
    """pip's resolver for CPython 3.10 manylinux x86_64, as the judge installs (~40 s: wheel metadata only), on the
    requirements of the model that needs the most: one with a Hugging Face tokenizer."""
    from pipeline.shipping.package import extra_requirements

    requirements = tmp_path / "requirements.txt"
    requirements.write_text((ROOT / "submission_src" / "requirements.txt").read_text() + "\n".join(
        extra_requirements({"text_cfg": {"hf_tokenizer_name": "any"}, "vision_cfg": {}})) + "\n")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--only-binary=:all:",
         "--python-version", "3.10", "--implementation", "cp", "--platform", "manylinux_2_28_x86_64",
         "--platform", "manylinux_2_27_x86_64", "--platform", "manylinux2014_x86_64",
         "--platform", "manylinux_2_17_x86_64", "--target", str(tmp_path / "target"),
         "--report", str(tmp_path / "report.json"), "-r", str(requirements)], capture_output=True, text=True)
    if result.returncode and any(sign in result.stdout + result.stderr for sign in OFFLINE):
        pytest.skip("no package index reachable")
    assert result.returncode == 0, result.stderr[-2000:]
    canonical = lambda name: re.sub(r"[-_.]+", "-", name).lower()  # noqa: E731 (PEP 503)
    chosen = {canonical(item["metadata"]["name"]): item["metadata"]["version"]
              for item in json.loads((tmp_path / "report.json").read_text())["install"]}
    pins = dict(line.split("==") for line in requirements.read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    assert {"transformers", "tokenizers", "timm"} <= {canonical(name) for name in pins}
    assert {canonical(name): version for name, version in pins.items()}.items() <= chosen.items()
