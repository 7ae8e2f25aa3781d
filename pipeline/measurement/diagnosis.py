"""What each miss got wrong, read from the generator's record of every image's objects (`scenes.parquet`) and
of every query's edit (`queries.parquet`), so only where a split has them (the synthetic and the
out-of-generator splits; a team's own data has neither).

A miss retrieves an image that keeps every object the edit keeps but lacks an object it adds, keeps one it
removes, both, holds an object nobody asked for, or shows the target's very objects (another photograph of
them); or it lacks an object the edit keeps: the model lost the scene itself, to a sibling target (the same
reference, another edit) or to another scene. Queries are also told apart by edit
shape ("1+1": one add, one remove) and by whether an edited object stands in company training never showed
(a held-out object pair, see pipeline/data/scenes.py).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.data.catalog import load_catalog
from pipeline.data.dataset import SplitSource
from pipeline.data.scenes import held_out_pairs, pair_key
from pipeline.ranking import top1

LACKS_ADDED, KEEPS_REMOVED, BOTH, EXTRA_OBJECT, SAME_OBJECTS, SIBLING, OTHER_SCENE = (
    "lacks_added", "keeps_removed", "lacks_added_keeps_removed", "extra_object", "same_objects", "sibling_target",
    "other_scene")
MISS_CLASSES = (LACKS_ADDED, KEEPS_REMOVED, BOTH, EXTRA_OBJECT, SAME_OBJECTS, SIBLING, OTHER_SCENE)
KEYS = ["query_image", "query_text", "target_image"]


def miss_class(target: set[str], retrieved: set[str], add: set[str], remove: set[str], sibling: bool) -> str:
    """How the retrieved image's objects differ from the target's, for a query that adds `add` and removes
    `remove` (object names); `sibling`: the retrieved image is another target of the same reference."""
    if not target - add <= retrieved:  # an object the edit keeps is gone: the scene itself was lost
        return SIBLING if sibling else OTHER_SCENE
    lacks, keeps = not add <= retrieved, bool(remove & retrieved)
    if lacks or keeps:
        return BOTH if lacks and keeps else LACKS_ADDED if lacks else KEEPS_REMOVED
    return EXTRA_OBJECT if retrieved - target else SAME_OBJECTS


def edit_shape(add: Sequence[str], remove: Sequence[str]) -> str:
    return f"{len(add)}+{len(remove)}"


def in_unseen_company(objects: Sequence[str], edited: Sequence[str], held_out: frozenset[tuple[int, int]],
                      index: Mapping[str, int]) -> bool:
    """Whether an edited object stands beside an object it forms a held-out pair with."""
    return any(e != o and pair_key(index[e], index[o]) in held_out
               for e in edited if e in index for o in objects if o in index)


class SplitRecord:
    """A split's generator record: each image's objects and each query's true edit."""

    def __init__(self, scenes: Path, queries: Path):
        scenes = pd.read_parquet(scenes)
        self.objects = {image: set(names) for image, names in zip(scenes.image, scenes.objects)}
        self.looks = dict(zip(scenes.image, scenes.look)) if "look" in scenes else None  # a look-shift split's
        self.edits = pd.read_parquet(queries, columns=KEYS + ["add", "remove"]).drop_duplicates(KEYS)
        self.targets_of = self.edits.groupby("query_image").target_image.agg(set).to_dict()

    @classmethod
    def find(cls, split: SplitSource) -> "SplitRecord | None":
        """The record beside the split's data.csv (its edits) and beside its images folder (its scenes: a plain
        twin shares its images with the split it rewords)."""
        scenes, queries = Path(split.images).parent / "scenes.parquet", Path(split.csv).parent / "queries.parquet"
        return cls(scenes, queries) if scenes.is_file() and queries.is_file() else None

    def diagnose(self, detail: pd.DataFrame, methods: Sequence[str], held_out: frozenset[tuple[int, int]],
                 index: Mapping[str, int]) -> pd.DataFrame:
        """`detail` (evaluate's per-query table: rank_<method>, prediction_<method>) with each query's true edit
        shape, whether it is in unseen company, its reference scene's look where the record has looks, and per
        method `miss_<method>` (empty for a hit)."""
        truth = detail[KEYS].merge(self.edits, on=KEYS, how="left")
        targets = [self.objects[t] for t in detail.target_image]
        table = detail.assign(
            edit_shape=[edit_shape(a, r) for a, r in zip(truth["add"], truth["remove"])],
            unseen_company=[in_unseen_company(sorted(t | set(r)), [*a, *r], held_out, index)
                            for t, a, r in zip(targets, truth["add"], truth["remove"])])
        if self.looks is not None:
            table["look"] = detail.query_image.map(self.looks)
        for method in methods:
            table[f"miss_{method}"] = [
                "" if rank == 0 else miss_class(target, self.objects[predicted], set(a), set(r),
                                                predicted in self.targets_of[reference])
                for rank, predicted, reference, target, a, r in zip(
                    detail[f"rank_{method}"], detail[f"prediction_{method}"], detail.query_image, targets,
                    truth["add"], truth["remove"])]
        return table


def catalog_pairs(fraction: float, seed: int) -> tuple[frozenset[tuple[int, int]], dict[str, int]]:
    """The held-out object pairs of the data params, and each object's catalog index."""
    catalog = load_catalog()
    return held_out_pairs(len(catalog), fraction, seed), {o.name: o.index for o in catalog}


def summary(table: pd.DataFrame, methods: Sequence[str]) -> dict:
    """Per method: Top-1 by edit shape, by company and (a look-shift split) by look, and the share of its misses in
    each class."""
    def scored(rows: pd.DataFrame, method: str) -> dict:
        return {"queries": len(rows), "top1": top1(rows[f"rank_{method}"]) if len(rows) else None}

    result = {}
    for method in methods:
        misses = table[f"miss_{method}"][table[f"miss_{method}"] != ""]
        result[method] = {
            "by_shape": {shape: scored(rows, method) for shape, rows in table.groupby("edit_shape", sort=True)},
            "by_company": {("unseen" if unseen else "seen"): scored(rows, method)
                           for unseen, rows in table.groupby("unseen_company", sort=True)},
            **({"by_look": {look: scored(rows, method) for look, rows in table.groupby("look", sort=True)}}
               if "look" in table else {}),
            "misses": {"count": int(len(misses)),
                       **{c: float(np.mean(misses == c)) if len(misses) else 0.0 for c in MISS_CLASSES}}}
    return result
