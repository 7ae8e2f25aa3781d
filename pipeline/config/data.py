"""Configuration of the synthetic splits and the data source: `data` (see pipeline/config/)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import ClassVar

from pipeline.config.scenes import SceneConfig
from pipeline.config.section import ParamsError, build

SPLIT_ARTISTS = ("noto", "openmoji", "fluent3d")  # who may draw the splits (data.artist): docs/data.md's artists
OBJECT_SETS = ("catalog", "beyond_catalog")  # what the splits show (data.objects): pipeline/data/synth.py


@dataclass(frozen=True)
class PhotoVariation:
    """How far one training photograph may stray from the renderer's own look: each image draws its blur,
    noise, gamma and JPEG quality from these ranges, independently of its reference or target, so that no
    rendering habit tells a scene apart."""

    blur: float = 0.0  # Gaussian blur radius, pixels, drawn from [0, blur]
    noise: float = 0.0  # pixel noise σ (0-255 scale), drawn from [0, noise]
    gamma: float = 0.0  # gamma drawn from [1 − gamma, 1 + gamma]
    jpeg_quality: tuple[int, int] = (92, 92)  # drawn from this range (inclusive)
    cast: float = 0.0  # colour cast: each channel's gain drawn from [1 − cast, 1 + 0.6·cast]
    zoom: float = 0.0  # scale about the centre drawn from [1 − zoom, 1 + zoom]


@dataclass(frozen=True)
class LookVariation:
    """One split's randomised look (`data.looks.<split>`): other scenes and other photographs than data.scene's."""

    scene: dict = field(default_factory=dict)  # keys of data.scene, set otherwise for this split
    photo: PhotoVariation = PhotoVariation()


VARIED_SPLITS = ("train", "val")  # test keeps the challenge's look: the grey held-out figure


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
    looks: dict[str, LookVariation | None] = field(default_factory=dict)  # split -> its look (none: data.scene's)
    objects: str = "catalog"  # one of OBJECT_SETS

    def __post_init__(self):
        if self.artist not in SPLIT_ARTISTS:
            raise ParamsError(f"params.yaml: data.artist {self.artist!r} is no artist here: one of "
                              f"{', '.join(SPLIT_ARTISTS)}")
        if self.objects not in OBJECT_SETS:
            raise ParamsError(f"params.yaml: data.objects {self.objects!r} is none of {', '.join(OBJECT_SETS)}")
        if other := sorted(set(self.looks) - set(VARIED_SPLITS)):
            raise ParamsError(f"params.yaml: data.looks has {', '.join(other)}: only {' and '.join(VARIED_SPLITS)} "
                              "may be drawn in other looks (test keeps the challenge's, for the grey held-out figure)")
        for split in self.looks:
            self.scene_config(split)  # an unknown scene key is named now

    def scene_config(self, split: str) -> SceneConfig:
        """The scenes of `split`: data.scene, with the scene keys of the split's look."""
        look = self.looks.get(split)
        if look is None or not look.scene:
            return self.scene
        return build(SceneConfig, f"data.looks.{split}.scene", {**asdict(self.scene), **look.scene})

    def photo(self, split: str) -> PhotoVariation:
        """How far the split's photographs stray from the renderer's own look."""
        look = self.looks.get(split)
        return look.photo if look else PhotoVariation()
