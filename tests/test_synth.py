import itertools
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pipeline.config.data import LookVariation, PhotoVariation
from pipeline.config.section import ParamsError
from pipeline.data.photo import Photo, draw_photo, zoomed
from pipeline.data.phrasing import PLAIN_WORDING, SEALED_WORDING, Wording
from pipeline.data.synth import CSV_COLUMNS, sample_split, write_plain_twin, write_split


def test_split_has_challenge_format(small_split, small_config):
    table = pd.read_csv(small_split / "data.csv")
    assert list(table.columns) == CSV_COLUMNS
    assert table.notna().all().all()
    for name in set(table.query_image) | set(table.target_image):
        with Image.open(small_split / "images" / name) as im:
            assert im.size == (small_config.image_size,) * 2 and im.mode == "RGB"


def test_both_graph_shapes_occur(small_split):
    """As in the challenge: one reference with several targets, and one target reached from several references."""
    table = pd.read_csv(small_split / "data.csv")
    targets_per_reference = table.groupby("query_image").target_image.nunique()
    references_per_target = table.groupby("target_image").query_image.nunique()
    assert (targets_per_reference >= 2).sum() >= 10 and (references_per_target >= 2).sum() >= 10
    assert not table.duplicated(["query_image", "target_image"]).any()
    assert not set(table.query_image) & set(table.target_image)  # no image is both


def test_the_training_split_has_the_challenges_scale(default_synth_config):
    _, queries = sample_split("train", default_synth_config)
    assert 1400 <= len(queries) <= 1800
    shared = pd.Series([q["target_image"] for q in queries]).value_counts()
    assert 0.2 <= (shared >= 2).mean() <= 0.7  # many queries share a target


def test_same_seed_same_bytes(tmp_path, small_config):
    config = replace(small_config, references={"train": 0, "val": 4, "test": 0})
    write_split(tmp_path / "a", "val", config)
    write_split(tmp_path / "b", "val", config)
    assert (tmp_path / "a" / "data.csv").read_bytes() == (tmp_path / "b" / "data.csv").read_bytes()
    for path in (tmp_path / "a" / "images").iterdir():
        assert path.read_bytes() == (tmp_path / "b" / "images" / path.name).read_bytes()


def test_other_seed_other_data(small_config):
    _, first = sample_split("val", small_config)
    _, second = sample_split("val", replace(small_config, seed=small_config.seed + 1))
    assert [q["query_text"] for q in first] != [q["query_text"] for q in second]


def _poses(scene_row) -> dict:
    columns = [scene_row[c] for c in ("x", "y", "size", "angle")]
    return {name: pose for name, *pose in zip(scene_row["objects"], *columns)}


def test_target_is_reference_with_exactly_the_edit(small_split):
    scenes = pd.read_parquet(small_split / "scenes.parquet").set_index("image")
    queries = pd.read_parquet(small_split / "queries.parquet")
    for q in queries.itertuples():
        ref, target = scenes.loc[q.query_image], scenes.loc[q.target_image]
        ref_poses, target_poses = _poses(ref), _poses(target)
        assert set(q.remove) <= set(ref_poses) and not set(q.add) & set(ref_poses)
        assert set(target_poses) == (set(ref_poses) - set(q.remove)) | set(q.add)
        for name in set(ref_poses) - set(q.remove):
            assert target_poses[name] == ref_poses[name], "kept objects keep their place"
        assert list(target.floor) == list(ref.floor)


def test_texts_name_the_edit_objects(small_split):
    queries = pd.read_parquet(small_split / "queries.parquet")
    for q in queries.itertuples():
        for name in [*q.add, *q.remove]:
            assert name in q.query_text.lower() and name in q.plain_text.lower()
        assert q.keep is None or (q.keep not in q.remove and q.keep not in q.add)


def test_plain_twin_has_the_same_queries_in_plain_wording(small_split, tmp_path):
    write_plain_twin(small_split, tmp_path / "test_plain")
    test, twin = pd.read_csv(small_split / "data.csv"), pd.read_csv(tmp_path / "test_plain" / "data.csv")
    assert (test[["query_image", "target_image"]] == twin[["query_image", "target_image"]]).all().all()
    queries = pd.read_parquet(small_split / "queries.parquet")
    for text, add, remove in zip(twin.query_text, queries["add"], queries["remove"]):
        lowered = text.lower().rstrip(".")
        assert lowered.startswith(("add ", "remove ")) and all(n in lowered for n in [*add, *remove])


def _pairs(names):
    return {frozenset(p) for p in itertools.combinations(names, 2)}


def test_test_queries_show_object_pairs_never_seen_in_train(default_synth_config):
    train_images, train_queries = sample_split("train", default_synth_config)
    seen = set().union(*(_pairs(scene.names) for _, scene in train_images.values()))
    seen |= {frozenset((a, r)) for q in train_queries for a in q["add"] for r in q["remove"]}
    test_images, test_queries = sample_split("test", default_synth_config)
    for q in test_queries:
        target_names = test_images[q["target_image"]][1].names
        novel = (_pairs(target_names) | {frozenset((a, r)) for a in q["add"] for r in q["remove"]}) - seen
        assert novel, f"test query {q['query_text']!r} only shows pairs seen in train"


def test_test_split_is_worded_by_the_sealed_file_and_train_plainly(default_synth_config):
    sealed, plain = Wording.load(SEALED_WORDING), Wording.load(PLAIN_WORDING)
    _, test_queries = sample_split("test", default_synth_config)
    used = {(q["family"], q["template"]) for q in test_queries}
    assert {t for _, t in used} <= {t for _, _, t in sealed.templates()}
    assert len(used) >= 150 and len({f for f, _ in used}) == len(sealed.families)
    _, train_queries = sample_split("train", default_synth_config)
    assert {q["template"] for q in train_queries} <= {t for _, _, t in plain.templates()}


def test_wording_never_changes_the_scenes(default_synth_config, monkeypatch):
    import pipeline.data.synth as synth

    images, _ = sample_split("val", default_synth_config)
    monkeypatch.setattr(synth, "PLAIN_WORDING", SEALED_WORDING)
    other_images, other_queries = sample_split("val", default_synth_config)
    assert images == other_images and {q["family"] for q in other_queries} != {"plain"}


def test_edits_stay_within_bounds(default_synth_config):
    images, queries = sample_split("val", default_synth_config)
    for _, scene in images.values():
        assert 1 <= len(scene.objects) <= 6 and len(set(scene.names)) == len(scene.names)
    for q in queries:
        assert 0 <= len(q["remove"]) <= 2 and 0 <= len(q["add"]) <= 3 and q["add"] + q["remove"]


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_split_sizes_follow_params(default_synth_config, split):
    images, queries = sample_split(split, default_synth_config)
    references = default_synth_config.references[split]
    most = default_synth_config.edits_per_reference[1] * default_synth_config.references_per_target[1]
    assert references < sum(role == "reference" for role, _ in images.values()) <= references * most
    assert 2 * references <= len(queries) <= most * references


def test_realism_knobs_vary_floors_and_lighting_per_photo(small_config):
    from pipeline.data.render import render
    from pipeline.data.scenes import SceneConfig

    real = replace(small_config, scene=SceneConfig(max_texture=0.4, lighting=0.6, max_overlap=0.3))
    images, queries = sample_split("val", real)
    scenes = [scene for _, scene in images.values()]
    assert all(0 <= s.texture <= 0.4 for s in scenes) and len({s.texture_seed for s in scenes}) > 1
    reference, target = images[queries[0]["query_image"]][1], images[queries[0]["target_image"]][1]
    assert reference.floor == target.floor and reference.texture_seed == target.texture_seed
    assert reference.light != target.light  # another photo of the edited scene
    plain = replace(reference, texture=0.0, light=type(reference.light)())
    drawn, flat = (np.asarray(render(s, 96, "openmoji"), np.float32) for s in (reference, plain))
    assert np.abs(drawn - flat).mean() > 2


def test_shadow_knob_varies_each_photos_shadows_and_leaves_others_alone(small_config):
    from pipeline.data.render import render
    from pipeline.data.scenes import Light, Placement, Scene, SceneConfig

    varied = replace(small_config, scene=SceneConfig(shadows=1.0, max_overlap=0.3))
    lights = [scene.light for _, scene in sample_split("val", varied)[0].values()]
    assert len({(light.shadow_offset, light.shadow_flatness, light.shadow_strength) for light in lights}) > 10
    assert all(light.even for light in lights)  # shadows alone: no colour cast, no ramp
    assert all(0.1 <= light.shadow_flatness <= 0.65 and 30 <= light.shadow_strength <= 180 for light in lights)
    # The knob draws from its own share of the stream: off, the scenes are the renderer's own, scene for scene.
    plain_images = sample_split("val", small_config)[0]
    assert all(scene.light == Light() for _, scene in plain_images.values())
    # Where a shadow falls follows the light: cast up rather than down, the floor below the object is lighter
    # and the floor above it darker.
    scene = Scene((200, 200, 200), (Placement("dog", 0.5, 0.5, 0.3, 0.0),))
    down, up = (np.asarray(render(replace(scene, light=Light(shadow_offset=(0.0, dy))), 96, "openmoji"), np.float32)
                for dy in (0.42, -0.42))
    lighter = (up - down).mean(-1)
    assert lighter[60:72, 35:61].mean() > 8 and lighter[24:36, 35:61].mean() < -8


def test_distractors_join_the_val_and_test_databases_only(small_config, tmp_path):
    from pipeline.data.dataset import resolve_source

    config = replace(small_config, references={"train": 2, "val": 3, "test": 3}, distractors=1.0)
    images, queries = sample_split("val", config)
    distractors = [name for name, (role, _) in images.items() if role == "distractor"]
    assert len(distractors) == len({q["target_image"] for q in queries})
    assert not set(distractors) & {q[k] for q in queries for k in ("query_image", "target_image")}
    assert all(role != "distractor" for role, _ in sample_split("train", config)[0].values())
    for split in ("train", "val", "test"):
        write_split(tmp_path / split, split, config)
    sources = resolve_source(str(tmp_path))
    assert sources["train"].distractors is None
    database = sources["test"].database_images()
    assert database[-len(sources["test"].distractor_images()):] == sources["test"].distractor_images()
    assert all((tmp_path / "test" / "images" / name).is_file() for name in database)


RENDER_WITH = """
import os, sys
from pathlib import Path
from pipeline.data import artwork, synth
from pipeline.config.data import SynthConfig

config = SynthConfig(seed=3, image_size=64, references={"train": 2, "val": 2, "test": 4}, edits_per_reference=(2, 3),
                     held_out_pair_fraction=0.15, artist="fluent3d", references_per_target=(1, 2), workers=2)
failure = sys.argv[2]
if failure == "missing artwork":
    artwork.ARTWORK_ROOT = Path(sys.argv[1]) / "no-artwork"
else:  # a sprite that only the render workers cannot read (a worker's set-up failing, as a corrupt file would)
    parent, warm = os.getpid(), synth.warm_sprites
    def corrupt_in_workers(*args):
        if os.getpid() != parent:
            raise artwork.ArtworkMissingError("a corrupt sprite in a render worker")
        warm(*args)
    synth.warm_sprites = corrupt_in_workers
synth.write_split(Path(sys.argv[1]) / "test", "test", config)
"""


@pytest.mark.parametrize("failure", ["missing artwork", "corrupt sprite"])
def test_a_render_failure_stops_the_split_once(failure, tmp_path):
    """Once, at once, with a non-zero exit: no pool that replaces a failing worker forever."""
    import subprocess
    import sys
    import time
    from pathlib import Path

    started = time.perf_counter()
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", RENDER_WITH, str(tmp_path), failure], cwd=root, capture_output=True,
                          text=True, timeout=300)
    said = "run make setup" if failure == "missing artwork" else "a corrupt sprite in a render worker"
    assert done.returncode != 0 and said in done.stderr
    assert done.stderr.count(said) <= 2  # the error, and the worker's traceback quoting it
    assert time.perf_counter() - started < 240


def test_a_stage_says_a_fixable_error_in_one_line(tmp_path):
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    shutil.copy(root / "params.yaml", tmp_path)
    code = ("import runpy, sys; from pathlib import Path; from pipeline.data import artwork; "
            f"artwork.ARTWORK_ROOT = Path({str(tmp_path)!r}) / 'none'; sys.argv = ['stages/data.py']; "
            "runpy.run_module('stages.data', run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "PYTHONPATH": str(root)})
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("stage data: the artwork")
    assert "Traceback" not in done.stderr and "run make setup" in done.stderr


def test_a_split_look_changes_only_that_split(small_config, tmp_path):
    varied = replace(small_config, references={"train": 4, "val": 3, "test": 3},
                     looks={"train": LookVariation(
                         {"min_size": 0.36, "max_size": 0.4, "floor_color": 1.0},
                         PhotoVariation(blur=2.0, noise=6.0, gamma=0.2, jpeg_quality=(40, 60)))})
    plain = replace(varied, looks={})
    for split in ("val", "train"):
        write_split(tmp_path / "varied" / split, split, varied)
        write_split(tmp_path / "plain" / split, split, plain)
    def image_bytes(config: str, split: str) -> list[bytes]:
        return [p.read_bytes() for p in sorted((tmp_path / config / split / "images").iterdir())]
    assert image_bytes("varied", "val") == image_bytes("plain", "val")
    varied_train, plain_train = image_bytes("varied", "train"), image_bytes("plain", "train")
    assert all(a != b for a, b in zip(varied_train, plain_train))
    scenes = pd.read_parquet(tmp_path / "varied" / "train" / "scenes.parquet")
    assert scenes["size"].explode().astype(float).min() >= 0.36 - 1e-6
    floors = np.stack(scenes["floor"].to_list())
    assert (floors.max(1) - floors.min(1)).max() > 40  # grey floors differ by 24 at most between channels


def test_photo_floors_give_each_photo_its_own_floor(small_config):
    def floors(photo_floors: bool) -> dict:
        config = replace(small_config, references={"train": 6, "val": 1, "test": 1},
                         looks={"train": LookVariation({"floor_color": 0.5, "photo_floors": photo_floors})})
        images, queries = sample_split("train", config)
        return {(q["query_image"], q["target_image"]): (images[q["query_image"]][1].floor,
                                                        images[q["target_image"]][1].floor) for q in queries}
    assert all(a == b for a, b in floors(False).values())  # a scene and its edits share the floor
    own = floors(True).values()
    assert sum(a != b for a, b in own) >= 0.9 * len(own)


def test_test_split_keeps_the_challenges_look(small_config):
    with pytest.raises(ParamsError, match="data.looks has test"):
        replace(small_config, looks={"test": LookVariation({"floor_color": 1.0})})
    with pytest.raises(ParamsError, match="data.looks.val.scene has no key floor_colour"):
        replace(small_config, looks={"val": LookVariation({"floor_colour": 1.0})})


def test_a_photo_develops_within_its_ranges():
    photos = [draw_photo(PhotoVariation(blur=1.0, noise=3.0, gamma=0.1, jpeg_quality=(50, 60)), rng)
              for rng in [np.random.default_rng(i) for i in range(50)]]
    assert all(0 <= p.blur <= 1.0 and 0 <= p.noise <= 3.0 and 0.9 <= p.gamma <= 1.1 and 50 <= p.jpeg_quality <= 60
               for p in photos)
    image = Image.new("RGB", (16, 16), (120, 130, 140))
    assert Photo().develop(image) == image
    assert Photo(noise=3.0, gamma=1.1, seed=1).develop(image) != image


def test_a_cast_and_a_zoom_draw_within_their_ranges_and_leave_other_draws_alone():
    plain = PhotoVariation(blur=1.0, jpeg_quality=(50, 60))
    varied = replace(plain, cast=0.3, zoom=0.1)
    for seed in range(30):
        before, after = np.random.default_rng(seed), np.random.default_rng(seed)
        old, new = draw_photo(plain, before), draw_photo(varied, after)
        assert (old.blur, old.jpeg_quality, old.seed) == (new.blur, new.jpeg_quality, new.seed)
        assert old.gains == (1.0, 1.0, 1.0) and old.zoom == 1.0
        assert all(0.7 <= g <= 1.18 for g in new.gains) and 0.9 <= new.zoom <= 1.1 and new.gains != old.gains
    cast = Photo(gains=(1.0, 0.5, 1.0)).develop(Image.new("RGB", (8, 8), (100, 100, 100)))
    assert cast.getpixel((4, 4)) == (100, 50, 100)


def test_a_zoom_keeps_the_size_crops_in_or_frames_with_the_border():
    image = Image.new("RGB", (40, 40), (90, 90, 90))
    image.paste((250, 0, 0), (10, 10, 30, 30))  # a red square in the middle
    def red_width(picture: Image.Image) -> int:
        return int((np.asarray(picture)[20, :, 0] > 200).sum())
    closer, farther = zoomed(image, 1.5), zoomed(image, 0.5)
    assert closer.size == farther.size == image.size
    assert red_width(closer) == 30 and red_width(farther) == 10
    assert farther.getpixel((0, 0)) == (90, 90, 90)
    taken = Photo(jpeg_quality=30).take(image)
    assert taken.size == image.size and taken.mode == "RGB" and taken != image


def test_beyond_catalog_splits_show_only_objects_no_catalog_split_holds(small_config):
    from pipeline.data.catalog import load_catalog
    from pipeline.data.synth import split_objects

    beyond = replace(small_config, objects="beyond_catalog")
    images, queries = sample_split("train", beyond)
    shown = {name for _, scene in images.values() for name in scene.names}
    catalog = {o.name for o in load_catalog()}
    assert shown and not shown & catalog
    assert shown <= {o.name for o in split_objects("beyond_catalog", beyond.artist)}
    assert len(split_objects("beyond_catalog", beyond.artist)) > len(catalog)
    assert all(q["query_text"] for q in queries)
    with pytest.raises(ParamsError, match="data.objects 'emoji'"):
        replace(small_config, objects="emoji")
