"""One photograph's look over a drawn image: blur, noise, gamma, a colour cast, a zoom and its JPEG quality.

The splits draw one per image as they render (`data.looks`), and the feature cache draws them again over the
training split's images for its other views of them (`views`): the same scene in another look, which a team's
own images can get too, since nothing here needs the scene, only its pixels.
"""
from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image, ImageFilter

from pipeline.config.data import PhotoVariation


@dataclass(frozen=True)
class Photo:
    """One image's drawn photograph settings (see PhotoVariation); the default is the renderer's own look."""

    blur: float = 0.0
    noise: float = 0.0
    gamma: float = 1.0
    jpeg_quality: int = 92
    seed: int = 0
    gains: tuple[float, float, float] = (1.0, 1.0, 1.0)  # per channel: a colour cast
    zoom: float = 1.0  # > 1 crops in on the centre, < 1 shows more floor around the picture

    def develop(self, image: Image.Image) -> Image.Image:
        if self.zoom != 1.0:
            image = zoomed(image, self.zoom)
        if self.blur:
            image = image.filter(ImageFilter.GaussianBlur(self.blur))
        if self.noise or self.gamma != 1.0 or self.gains != (1.0, 1.0, 1.0):
            pixels = np.asarray(image, np.float32) / 255
            pixels = pixels ** self.gamma * np.asarray(self.gains, np.float32)
            pixels = pixels + np.random.default_rng(self.seed).normal(0, self.noise / 255, pixels.shape)
            image = Image.fromarray(np.clip(pixels * 255 + 0.5, 0, 255).astype(np.uint8), "RGB")
        return image

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "Photo":
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(text).items()})

    def take(self, image: Image.Image) -> Image.Image:
        """`image` developed and saved at the photo's JPEG quality, as a file of it would read back."""
        buffer = io.BytesIO()
        self.develop(image).save(buffer, "JPEG", quality=self.jpeg_quality)
        return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def zoomed(image: Image.Image, zoom: float) -> Image.Image:
    """`image` scaled by `zoom` about its centre, at its own size: cropped in, or framed by its own border colour."""
    width, height = image.size
    scaled = image.resize((max(1, round(width * zoom)), max(1, round(height * zoom))), Image.BICUBIC)
    if zoom >= 1.0:
        left, top = (scaled.width - width) // 2, (scaled.height - height) // 2
        return scaled.crop((left, top, left + width, top + height))
    border = tuple(int(v) for v in np.median(np.asarray(image)[[0, -1]].reshape(-1, 3), axis=0))
    framed = Image.new("RGB", (width, height), border)
    framed.paste(scaled, ((width - scaled.width) // 2, (height - scaled.height) // 2))
    return framed


def draw_photo(variation: PhotoVariation, rng: np.random.Generator) -> Photo:
    """One image's photograph settings, drawn from the variation's ranges (a cast or zoom of 0 draws nothing, so
    a variation without them draws as it always did)."""
    lo, hi = variation.jpeg_quality
    blur, noise = float(rng.uniform(0, variation.blur)), float(rng.uniform(0, variation.noise))
    gamma = float(rng.uniform(1 - variation.gamma, 1 + variation.gamma))
    quality, seed = int(rng.integers(lo, hi + 1)), int(rng.integers(2**31))
    gains = tuple(float(g) for g in 1 + variation.cast * rng.uniform(-1.0, 0.6, size=3)) if variation.cast else None
    zoom = float(rng.uniform(1 - variation.zoom, 1 + variation.zoom)) if variation.zoom else 1.0
    return Photo(blur, noise, gamma, quality, seed, gains or (1.0, 1.0, 1.0), zoom)
