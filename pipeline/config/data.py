"""Configuration of the synthetic splits and the data source: `data` (see pipeline/config/)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import ClassVar

from pipeline.config.scenes import SceneConfig
from pipeline.config.section import ParamsError, build

SPLIT_ARTISTS = ("noto", "openmoji", "fluent3d")  # who may draw the splits (data.artist): docs/data.md's artists


@dataclass(frozen=True)
class PhotoVariation:
    """How far one training photograph may stray from the renderer's own look: each image draws its blur,
    noise, gamma and JPEG quality from these ranges, independently of its reference or target, so that no
    rendering habit tells a scene apart."""

    blur: float = 0.0  # Gaussian blur radius, pixels, drawn from [0, blur]
    noise: float = 0.0  # pixel noise σ (0-255 scale), drawn from [0, noise]
    gamma: float = 0.0  # gamma drawn from [1 − gamma, 1 + gamma]
    jpeg_quality: tuple[int, int] = (92, 92)  # drawn from this range (inclusive)


@dataclass(frozen=True)
class TrainVariation:
    """`data.train_variation`: the training split's randomised look (val and test unchanged)."""

    scene: dict = field(default_factory=dict)  # keys of data.scene, set otherwise for the training split
    photo: PhotoVariation = PhotoVariation()


@dataclass(frozen=True)
class SynthConfig:
    """`data`: where the splits come from and, when they are synthetic, how they are drawn."""

    SECTION: ClassVar[str] = "data"
    seed: int
    image_size: int
    references: dict[str, int]  # reference scenes per split
    edits_per_reference: tuple[int, int]
    held_out_pair_fraction: float
    artist: str  # who draws the splits: one of SPLIT_ARTISTS
    source: str = "synthetic"  # 'synthetic', or a challenge folder
    references_per_target: tuple[int, int] = (1, 1)  # how many references lead to one target (inclusive range)
    scene: SceneConfig = SceneConfig()  # how many objects, how large, how they overlap, floors, lighting
    distractors: float = 0.0  # val/test database: this many distractor scenes per target, besides the targets
    workers: int = 0
    train_variation: TrainVariation | None = None

    def __post_init__(self):
        if self.artist not in SPLIT_ARTISTS:
            raise ParamsError(f"params.yaml: data.artist {self.artist!r} is no artist here: one of "
                              f"{', '.join(SPLIT_ARTISTS)}")
        self.scene_config("train")  # an unknown scene key of train_variation is named now

    def scene_config(self, split: str) -> SceneConfig:
        """The scenes of `split`: data.scene, with train_variation's scene keys for the training split."""
        if split != "train" or self.train_variation is None or not self.train_variation.scene:
            return self.scene
        return build(SceneConfig, "data.train_variation.scene", {**asdict(self.scene), **self.train_variation.scene})

    @property
    def train_photo(self) -> PhotoVariation:
        return self.train_variation.photo if self.train_variation else PhotoVariation()
