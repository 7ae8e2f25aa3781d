"""Scene and edit sampling: what the synthetic images contain, before any pixel is drawn.

A scene is a floor shade plus objects with a pose. An edit removes some objects of a reference scene and adds
new ones at free spots, or where a removed one stood; kept objects keep their exact pose, so a target differs
from its reference only where the edit says. As in the challenge, one reference leads to several targets and one
target is reached from several references (`reference_for`: another scene the target is an edit of). Some object
pairs are held out: train/val scenes never show them together, every test query shows at least one, so the test
split measures combinations never seen in training.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace

import numpy as np

from pipeline.config.scenes import SceneConfig
from pipeline.data.catalog import CatalogObject


@dataclass(frozen=True)
class Placement:
    name: str
    x: float  # centre, fraction of the image width
    y: float  # centre, fraction of the image height
    size: float  # longest side, fraction of the image width
    angle: float  # degrees, counter-clockwise


@dataclass(frozen=True)
class Light:
    """How one photograph of a scene is lit: a colour cast, a brightness ramp across the image, and the soft
    elliptic shadow each object casts (the defaults are the renderer's own look)."""

    gain: tuple[float, float, float] = (1.0, 1.0, 1.0)  # per-channel multiplier
    ramp: float = 0.0  # brightness change from one side to the other (fraction)
    direction: float = 0.0  # of the ramp, degrees
    shadow_offset: tuple[float, float] = (0.06, 0.42)  # shadow centre from the object's, share of its width, height
    shadow_flatness: float = 0.25  # the shadow's height, share of the object's
    shadow_strength: int = 110  # the shadow's darkest alpha (0-255)
    shadow_softness: float = 0.5  # blur radius, share of the shadow's margin (a sixth of its width)

    @property
    def even(self) -> bool:
        """No colour cast and no ramp (the shadows may still differ)."""
        return self.gain == (1.0, 1.0, 1.0) and self.ramp == 0.0


@dataclass(frozen=True)
class Scene:
    floor: tuple[int, int, int]  # RGB shade of the floor
    objects: tuple[Placement, ...]
    texture: float = 0.0  # contrast of the floor's pattern (0: plain)
    texture_seed: int = 0
    light: Light = Light()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.objects)


@dataclass(frozen=True)
class Edit:
    add: tuple[str, ...]
    remove: tuple[str, ...]


def held_out_pairs(n_objects: int, fraction: float, seed: int) -> frozenset[tuple[int, int]]:
    """A fixed random share of all unordered object pairs, reserved for the test split."""
    rng = np.random.default_rng([seed, 7919])
    pairs = list(itertools.combinations(range(n_objects), 2))
    keep = rng.random(len(pairs)) < fraction
    return frozenset(p for p, k in zip(pairs, keep) if k)


def pair_key(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


@dataclass
class SceneSampler:
    """Draws reference scenes and edits for one split.

    `forbidden` pairs never appear together in a scene or an edit (train/val); `required` pairs must appear in
    every query at least once (test): among the target's objects or between an added and a removed object.
    """

    catalog: tuple[CatalogObject, ...]
    rng: np.random.Generator
    config: SceneConfig = field(default_factory=SceneConfig)
    forbidden: frozenset[tuple[int, int]] = frozenset()
    required: frozenset[tuple[int, int]] = frozenset()

    def __post_init__(self):
        self.index = {o.name: o.index for o in self.catalog}

    def _allowed(self, candidate: str, present: tuple[str, ...]) -> bool:
        if candidate in present:
            return False
        i = self.index[candidate]
        return not any(pair_key(i, self.index[p]) in self.forbidden for p in present)

    def _pick_names(self, count: int, present: tuple[str, ...]) -> tuple[str, ...] | None:
        chosen: list[str] = []
        for _ in range(count):
            candidates = [o.name for o in self.catalog if self._allowed(o.name, present + tuple(chosen))]
            if not candidates:
                return None
            chosen.append(candidates[self.rng.integers(len(candidates))])
        return tuple(chosen)

    def _clear(self, x: float, y: float, r: float, others: tuple[Placement, ...]) -> bool:
        c = self.config
        return all(np.hypot(x - o.x, y - o.y) >= r + o.size / 2 - c.max_overlap * min(r, o.size / 2)
                   for o in others)

    def _place(self, name: str, others: tuple[Placement, ...], spot: Placement | None = None,
               tries: int = 60) -> Placement | None:
        """A pose for `name` clear of `others`: at `spot`'s centre if given (and clear there), else anywhere."""
        c = self.config
        for attempt in range(tries):
            size = float(self.rng.uniform(c.min_size, c.max_size))
            r = size / 2
            if spot is not None and attempt < tries // 2:
                x, y = float(np.clip(spot.x, r, 1 - r)), float(np.clip(spot.y, r, 1 - r))
            else:
                x, y = (float(v) for v in self.rng.uniform(r, 1 - r, size=2))
            if self._clear(x, y, r, others):
                angle = float(self.rng.uniform(-c.max_angle, c.max_angle))
                return Placement(name, round(x, 4), round(y, 4), round(size, 4), round(angle, 2))
        return None

    def _with_objects(self, base: tuple[Placement, ...], names: tuple[str, ...],
                      vacated: tuple[Placement, ...] = ()) -> tuple[Placement, ...] | None:
        """`base` plus `names` placed around it; each takes a `vacated` spot with probability `in_place`."""
        placed, spots = base, list(vacated)
        for name in names:
            spot = spots.pop(0) if spots and self.config.in_place and self.rng.random() < self.config.in_place else None
            p = self._place(name, placed, spot)
            if p is None:
                return None
            placed = placed + (p,)
        return placed

    def reference(self) -> Scene:
        c = self.config
        while True:
            count = int(self.rng.integers(c.min_objects, c.max_objects + 1))
            names = self._seed_required_pair(count) if self.required else self._pick_names(count, ())
            objects = self._with_objects((), names) if names else None
            if objects:
                floor = self._grey_floor()
                # Without variation nothing more is drawn: its scenes stay as they were.
                if not (c.floor_color or c.max_texture or c.lighting or c.shadows):
                    return Scene(floor, objects)
                return replace(self._floored(Scene(floor, objects), grey=floor), light=self.light())

    def _grey_floor(self) -> tuple[int, int, int]:
        shade = self.rng.integers(150, 236)
        tint = self.rng.integers(-12, 13, size=3)
        return tuple(int(np.clip(shade + t, 0, 255)) for t in tint)

    def _floored(self, scene: Scene, grey: tuple[int, int, int] | None = None) -> Scene:
        """`scene` on a floor of its own: grey (`grey`, or a new shade), a colour for a `floor_color` share, with
        a pattern of up to `max_texture` contrast."""
        c = self.config
        floor = grey or self._grey_floor()
        if c.floor_color and self.rng.random() < c.floor_color:  # no draw at 0: other streams stay
            floor = tuple(int(v) for v in self.rng.integers(60, 221, size=3))
        texture = float(self.rng.uniform(0, c.max_texture))
        return replace(scene, floor=floor, texture=round(texture, 3), texture_seed=int(self.rng.integers(1 << 31)))

    @property
    def varies_light(self) -> bool:
        return bool(self.config.lighting or self.config.shadows)

    def photographed(self, scene: Scene) -> Scene:
        """Another photograph of `scene`'s layout: its own light where the light varies, its own floor where
        floors are per photo."""
        if self.varies_light:
            scene = replace(scene, light=self.light())
        return self._floored(scene) if self.config.photo_floors else scene

    def light(self) -> Light:
        """A photo's lighting: every image of a scene (reference or target) is its own photo."""
        c = self.config
        light = Light()
        if c.lighting:
            gain = tuple(round(float(v), 3) for v in 1 + c.lighting * self.rng.uniform(-0.35, 0.2, size=3))
            light = replace(light, gain=gain, ramp=round(float(c.lighting * self.rng.uniform(0, 0.6)), 3),
                            direction=round(float(self.rng.uniform(0, 360)), 1))
        if c.shadows:
            return self._shadow(light)
        return light

    def _shadow(self, light: Light) -> Light:
        """The light's shadows strayed from the renderer's own by up to `shadows`: where the shadow falls (the
        sun's direction), how flat, how dark and how soft it is."""
        s, draw = self.config.shadows, self.rng.uniform
        dx, dy = light.shadow_offset
        offset = (round(dx + s * float(draw(-0.3, 0.3)), 3), round(dy + s * float(draw(-0.35, 0.1)), 3))
        return replace(light, shadow_offset=offset,
                       shadow_flatness=round(light.shadow_flatness * (1 + s * float(draw(-0.5, 1.5))), 3),
                       shadow_strength=int(light.shadow_strength * (1 + s * float(draw(-0.7, 0.6)))),
                       shadow_softness=round(light.shadow_softness * (1 + s * float(draw(-0.6, 1.5))), 3))

    def _seed_required_pair(self, count: int) -> tuple[str, ...] | None:
        a, b = sorted(self.required)[self.rng.integers(len(self.required))]
        first = (self.catalog[a].name, self.catalog[b].name)
        rest = self._pick_names(count - 2, first)
        return first + rest if rest is not None else None

    def edit(self, scene: Scene, taken: set[Edit], tries: int = 200) -> tuple[Edit, Scene] | None:
        """A new edit of `scene` not in `taken`, and the target scene it yields."""
        c = self.config
        n = len(scene.objects)
        for _ in range(tries):
            n_remove = int(self.rng.integers(0, min(c.max_remove, n - 1) + 1))
            n_add = int(self.rng.integers(0, min(c.max_add, c.max_target_objects - n + n_remove) + 1))
            if n_add + n_remove == 0:
                continue
            removed_idx = sorted(self.rng.choice(n, size=n_remove, replace=False).tolist())
            removed = tuple(scene.objects[i].name for i in removed_idx)
            kept = tuple(o for i, o in enumerate(scene.objects) if i not in removed_idx)
            added = self._pick_names(n_add, scene.names)
            if added is None:
                continue
            edit = Edit(add=added, remove=removed)
            if edit in taken or not self._edit_allowed(edit, kept):
                continue
            vacated = tuple(scene.objects[i] for i in removed_idx)
            objects = self._with_objects(kept, added, vacated)
            if objects is None:
                continue
            return edit, self.photographed(replace(scene, objects=objects))
        return None

    def reference_for(self, target: Scene, taken: set[Edit], tries: int = 200) -> tuple[Edit, Scene] | None:
        """Another reference scene that `target` is an edit of (not one of `taken`), and that edit: some of the
        target's objects are missing from it, and objects the target lacks stand in it."""
        c = self.config
        n = len(target.objects)
        for _ in range(tries):
            n_missing = int(self.rng.integers(0, min(c.max_add, n - 1) + 1))
            room = c.max_objects - n + n_missing
            n_extra = int(self.rng.integers(0, min(c.max_remove, room) + 1)) if room > 0 else 0
            if n_missing + n_extra == 0 or n - n_missing + n_extra < c.min_objects:
                continue
            missing_idx = sorted(self.rng.choice(n, size=n_missing, replace=False).tolist())
            kept = tuple(o for i, o in enumerate(target.objects) if i not in missing_idx)
            extra = self._pick_names(n_extra, target.names)
            if extra is None:
                continue
            edit = Edit(add=tuple(target.objects[i].name for i in missing_idx), remove=extra)
            if edit in taken or not self._edit_allowed(edit, kept):
                continue
            vacated = tuple(target.objects[i] for i in missing_idx)
            objects = self._with_objects(kept, extra, vacated)
            if objects is None:
                continue
            return edit, self.photographed(replace(target, objects=objects))
        return None

    def _edit_allowed(self, edit: Edit, kept: tuple[Placement, ...]) -> bool:
        target_names = tuple(o.name for o in kept) + edit.add
        pairs = {pair_key(self.index[a], self.index[b]) for a, b in itertools.combinations(target_names, 2)}
        pairs |= {pair_key(self.index[a], self.index[r]) for a in edit.add for r in edit.remove}
        if self.forbidden and pairs & self.forbidden:
            return False
        return not self.required or bool(pairs & self.required)
