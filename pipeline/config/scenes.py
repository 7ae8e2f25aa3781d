"""Configuration of how a scene is laid out: `data.scene` (pipeline/config/__init__.py says why here)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SceneConfig:
    min_objects: int = 2
    max_objects: int = 5
    max_target_objects: int = 6
    max_remove: int = 2
    max_add: int = 3
    min_size: float = 0.2
    max_size: float = 0.3
    max_angle: float = 15.0
    max_overlap: float = 0.15  # share of the smaller radius two objects may overlap by
    floor_color: float = 0.0  # share of scenes whose floor is a colour (each channel drawn from 60-220), not grey
    max_texture: float = 0.0  # floor pattern contrast, drawn per scene from [0, max_texture]
    photo_floors: bool = False  # each photo draws its own floor (shade, colour, pattern): no floor tells a scene apart
    lighting: float = 0.0  # strength of per-photo colour cast and brightness ramp (0: even white light)
    shadows: float = 0.0  # how far each photo's shadows stray in offset, shape, darkness, softness (0: one shadow)
    in_place: float = 0.0  # share of added objects that stand where a removed one stood

    @classmethod
    def from_params(cls, p: dict) -> "SceneConfig":
        return cls(**p)
