"""The augmentation table: what each part of the edit algebra buys. The adapter and adapter_tail are trained with
augmentation off, with reverses, with reverses and compositions, and with varied wording on top (the whole-text
input on and off), and scored on val (for choices), test (the report) and test_plain (the paraphrase gap); the
shipped configuration's row is `evaluate`'s. With the bar chart, the test queries augmentation fixed and a picture
of one composed pair."""
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from PIL import Image

from pipeline.config.augment import AugmentConfig
from pipeline.data.dataset import PLAIN_TWIN, load_manifest
from pipeline.measurement.evaluation import embed_all, rank_queries
from pipeline.measurement.gallery import draw_gallery
from pipeline.ranking import top1
from pipeline.training.augmentation import EditGraph
from pipeline.training.experiment import Experiment

METHODS = ("adapter", "adapter_tail")


def variants(shipped: AugmentConfig, text: bool) -> list[tuple[str, AugmentConfig, bool]]:
    """(name, augmentation, whole-text input) for each row of the table, built up one part at a time."""
    off = AugmentConfig(seed=shipped.seed)
    rows = [("off", off, text), ("reverse", replace(off, reverse=True), text),
            ("reverse + compose", replace(off, reverse=True, compose=shipped.compose), text),
            ("+ varied wording", replace(shipped, reverse=True), text),
            (f"+ varied wording, text input {'off' if text else 'on'}", replace(shipped, reverse=True), not text)]
    unique = {}
    for name, config, reads_text in rows:  # a part the params turn off adds no row of its own
        unique.setdefault((config, reads_text), name)
    return [(name, config, reads_text) for (config, reads_text), name in unique.items()]


def draw_composed_pair(experiment: Experiment, out: Path) -> None:
    """Two training triplets from one reference and the pair their composition teaches."""
    train = experiment.queries("train")
    graph = EditGraph.from_frame(train.frame)
    images = Path(load_manifest()["train"].images)
    by_reference = {}
    for edit in graph.edits:
        by_reference.setdefault(edit.reference, []).append(edit)
    pairs = [(a, b, a.inverse().then(b)) for edits in by_reference.values() for a in edits for b in edits if a != b]
    pairs = [pair for pair in pairs if graph.consistent(pair[2])]
    figure = Figure(figsize=(9, 3.6))
    if not pairs:  # every reference has one edit, or none composes: nothing to draw but the reason
        figure.text(0.5, 0.5, "No two training edits from one reference compose into a pair", ha="center")
        figure.savefig(out, dpi=110)
        return
    first, second, composed = next((pair for pair in pairs if pair[2].add and pair[2].remove), pairs[0])
    axes = figure.subplots(1, 3)
    describe = lambda e: f"+ {', '.join(e.add) or '—'}\n− {', '.join(e.remove) or '—'}"  # noqa: E731
    panels = [(first.target, f"B  (A→B: {describe(first)})"), (first.reference, "A  (the reference of both)"),
              (second.target, f"C  (A→C: {describe(second)})")]
    for axis, (name, caption) in zip(axes, panels):
        axis.imshow(Image.open(images / name).convert("RGB"))
        axis.set_title(caption, fontsize=8)
        axis.axis("off")
    figure.suptitle(f"Composed pair B→C = A→B reversed, then A→C (no new image): {describe(composed)}"
                    .replace("\n", "   "), fontsize=10)
    figure.tight_layout()
    figure.savefig(out, dpi=110)


def augmentation_rows(experiment: Experiment, evaluated: dict) -> tuple[list[dict], np.ndarray | None]:
    """One row per variant and method with its Top-1 per split (`evaluated`: evaluate's metrics, the shipped
    row), and the test ranks of adapter_tail trained without augmentation (None when the params turn it off)."""
    shipped, text = experiment.settings.augment, experiment.settings.adapter.text_input
    splits = [s for s in ("val", "test", PLAIN_TWIN) if s in load_manifest()]
    scored = {split: experiment.queries(split) for split in splits}
    rows, off_tail = [], None
    for name, config, reads_text in variants(shipped, text):
        if (config, reads_text) == (shipped, text):
            pairs = len(experiment.training_queries().frame)
            rows += [{"variant": name, "method": method, "shipped": True, "train_queries": pairs,
                      **{split: evaluated[split][method]["top1"] for split in splits}} for method in METHODS]
            continue
        train = experiment.training_queries(augment=config)
        for method, trainer in (("adapter", experiment.train_adapter), ("adapter_tail", experiment.train_adapter_tail)):
            retriever, _ = trainer(train, desc=f"{method}, {name}", text=reads_text)
            row = {"variant": name, "method": method, "shipped": False, "train_queries": len(train.frame)}
            for split, queries in scored.items():
                query, database, database_rows = embed_all(retriever, experiment.cache, queries)
                ranks, _ = rank_queries(query, database, database_rows, queries.target_rows)
                row[split] = top1(ranks)
                if (split, method, name) == ("test", "adapter_tail", "off"):
                    off_tail = ranks
            rows.append(row)
            print(row)
    for row in rows:
        if PLAIN_TWIN in row:
            row["paraphrase_gap"] = row[PLAIN_TWIN] - row["test"]
    return rows, off_tail


def draw_augmentation_bars(rows: list[dict], out: Path) -> None:
    """Test Top-1 of each variant, the two methods side by side."""
    figure = Figure(figsize=(8, 4))
    axis = figure.subplots()
    names = list(dict.fromkeys(r["variant"] for r in rows))
    for k, method in enumerate(METHODS):
        values = [next(r["test"] for r in rows if r["variant"] == n and r["method"] == method) for n in names]
        axis.bar(np.arange(len(names)) + 0.4 * k, values, width=0.4, label=method)
    axis.set_xticks(np.arange(len(names)) + 0.2, names, rotation=15, fontsize=8)
    axis.set_ylabel("test Top-1")
    axis.set_title("What each part of the edit algebra buys")
    axis.legend()
    figure.tight_layout()
    figure.savefig(out, dpi=120)


def draw_augmentation_fixes(experiment: Experiment, off_tail: np.ndarray | None, out: Path) -> None:
    """The test queries the shipped model gets right and the same model trained without augmentation wrong."""
    if off_tail is None:  # the params turn augmentation off: no model without it to compare with
        draw_gallery(pd.DataFrame(), Path(), "augmentation is off (params augment): nothing it fixed", out)
        return
    test = experiment.queries("test")
    query, database, database_rows = embed_all(experiment.trained_adapter_tail(), experiment.cache, test)
    ranks, top = rank_queries(query, database, database_rows, test.target_rows)
    names = experiment.cache.images.set_index("row").image
    detail = test.frame.assign(rank_augmented=ranks, rank_off=off_tail, top=[list(names[r]) for r in top])
    fixed = detail[(detail.rank_augmented == 0) & (detail.rank_off > 0)].head(8)
    draw_gallery(fixed.rename(columns={"rank_off": "rank"}), Path(load_manifest()["test"].images),
                 "test: right with augmentation, wrong without (caption: rank without; retrieved: with)", out)
