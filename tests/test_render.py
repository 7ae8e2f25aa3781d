"""The artists' sprites and how a scene is drawn: every catalog object in every artist, placed inside the image,
and a missing or broken asset named in the error."""
import numpy as np
import pytest
from PIL import Image

import pipeline.data.artwork as artwork
import pipeline.data.render as render_module
from pipeline.data.artwork import FLUENT_3D, ArtworkMissingError, NpmArtwork
from pipeline.data.catalog import load_catalog, load_web_catalog
from pipeline.data.render import ARTISTS, render, sprite
from pipeline.data.scenes import Placement, Scene


@pytest.mark.parametrize("artist", ARTISTS)
def test_every_catalog_object_has_a_sprite(artist):
    for obj in load_catalog():
        glyph = sprite(obj.name, artist)
        assert glyph.mode == "RGBA" and min(glyph.size) > 10, obj.name
        assert np.asarray(glyph)[..., 3].max() == 255, obj.name  # cropped to visible pixels


@pytest.mark.parametrize("artist", ["noto", "openmoji", "twemoji"])
def test_the_web_catalog_extends_the_catalog_and_every_web_artist_draws_it(artist):
    catalog, web = load_catalog(), load_web_catalog()
    assert web[: len(catalog)] == catalog and len(web) > 2 * len(catalog)
    for obj in web[len(catalog):]:
        assert min(sprite(obj.name, artist).size) > 4, obj.name


@pytest.mark.parametrize("artist", ARTISTS)
def test_an_object_is_drawn_where_its_placement_says(artist):
    size = 256
    placed = Placement(load_catalog()[5].name, x=0.3, y=0.7, size=0.25, angle=0.0)
    empty, scene = Scene((200, 200, 200), ()), Scene((200, 200, 200), (placed,))
    changed = np.abs(np.asarray(render(scene, size, artist), np.float32)
                     - np.asarray(render(empty, size, artist), np.float32)).max(axis=2) > 12
    rows, cols = np.nonzero(changed)
    # the sprite and its shadow, within the placement's box (plus the shadow's reach below it)
    half = placed.size * size / 2
    assert cols.min() >= placed.x * size - half - 8 and cols.max() <= placed.x * size + half + 8
    assert rows.min() >= placed.y * size - half - 8 and rows.max() <= placed.y * size + half * 1.6
    assert changed.mean() > 0.02


def test_a_sampled_scene_stays_inside_the_image(default_synth_config):
    from pipeline.data.synth import sample_split

    images, _ = sample_split("val", default_synth_config)
    for _, scene in images.values():
        for o in scene.objects:  # poses are stored to 4 decimals: 1e-4 of slack
            assert all(o.size / 2 - 1e-4 <= v <= 1 - o.size / 2 + 1e-4 for v in (o.x, o.y)), o


def test_artwork_not_fetched_names_the_package_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(artwork, "ARTWORK_ROOT", tmp_path)
    with pytest.raises(ArtworkMissingError, match=r"@lobehub/fluent-emoji-3d@1\.1\.0 is not unpacked.*make setup"):
        FLUENT_3D.picture("1f3cd")


@pytest.fixture
def fetched_fake(tmp_path, monkeypatch):
    """An npm artwork marked as fetched, with an empty picture folder, standing in for fluent3d."""
    monkeypatch.setattr(artwork, "ARTWORK_ROOT", tmp_path)
    fake = NpmArtwork("fake-emoji", "1.0.0", "0" * 64, "assets", ".png", "test")
    fake.pictures.mkdir(parents=True)
    fake.complete.write_text(fake.sha256)
    monkeypatch.setitem(render_module.PACKAGES, "fluent3d", fake)
    render_module.sprite.cache_clear()
    yield fake
    render_module.sprite.cache_clear()


def test_a_code_point_without_a_picture_is_named(fetched_fake):
    obj = load_catalog()[0]
    with pytest.raises(ArtworkMissingError, match=rf"no picture for U\+{obj.codepoint.upper()} \(looked for "
                                                  rf"{obj.codepoint.lower()}\.png"):
        sprite(obj.name, "fluent3d")


def test_a_broken_picture_is_named(fetched_fake):
    obj = load_catalog()[0]
    (fetched_fake.pictures / f"{obj.codepoint.lower()}-fe0f.png").write_bytes(b"not a picture")
    with pytest.raises(ArtworkMissingError, match=rf"{obj.codepoint.lower()}-fe0f\.png is not a readable picture"):
        sprite(obj.name, "fluent3d")


def test_a_package_whose_bytes_differ_from_the_pin_is_not_unpacked(tmp_path, monkeypatch):
    monkeypatch.setattr(artwork, "ARTWORK_ROOT", tmp_path)
    wrong = NpmArtwork("is-number", "7.0.0", "0" * 64, "assets", ".png", "test")
    with pytest.raises(ArtworkMissingError) as err:
        wrong.fetch()
    # offline: npm's own failure; online: the checksum — either way nothing is unpacked and the fix is named
    assert "make setup" in str(err.value) or "not the pinned" in str(err.value)
    assert not wrong.is_fetched()


def test_fluent3d_scenes_are_512_pixels_with_a_grey_floor(default_synth_config):
    assert default_synth_config.artist == "fluent3d" and default_synth_config.image_size == 512
    floor = np.asarray(render(Scene((190, 190, 190), ()), 512, "fluent3d"), np.float32)
    assert np.ptp(floor.mean(axis=(0, 1))) < 1  # grey: no colour cast
    assert isinstance(Image.fromarray(floor.astype(np.uint8)), Image.Image)
