"""What training buys, by how much of it there is, with and without the edit algebra: the adapter and adapter_tail
trained afresh on a share of the training reference images (whole groups; the augmentation only sees the triplets
chosen) and scored on val and test. The whole split's points are `evaluate`'s (the shipped augmentation) and the
augmentation table's row without it; zero-shot arithmetic, which learns nothing, is the floor."""
from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from pipeline.config.augment import AugmentConfig
from pipeline.measurement.evaluation import split_top1
from pipeline.training.experiment import Experiment

METHODS = ("adapter", "adapter_tail")


def learning_curve(experiment: Experiment, evaluated: dict, augmentation_rows: list[dict]) -> dict:
    """The floor and one point per method, augmentation and share (`evaluated`: evaluate's metrics;
    `augmentation_rows`: the augmentation table's, whose `off` rows are the whole split without augmentation)."""
    scored = {split: experiment.queries(split) for split in ("val", "test")}
    triplets = len(experiment.queries("train").frame)
    shipped = experiment.settings.augment
    curves = {"without": AugmentConfig(seed=shipped.seed), "with": shipped}
    unaugmented = {row["method"]: row for row in augmentation_rows if row["variant"] == "off"}
    points = [{"method": name, "augmentation": "with", "share": 1.0, "train_triplets": triplets,
               "train_pairs": len(experiment.training_queries().frame),
               **{split: evaluated[split][name]["top1"] for split in scored}} for name in METHODS]
    points += [{"method": name, "augmentation": "without", "share": 1.0, "train_triplets": triplets,
                "train_pairs": triplets, **{split: unaugmented[name][split] for split in scored}} for name in METHODS]
    for augmentation, config in curves.items():
        if augmentation == "with" and config == curves["without"]:
            points = [p for p in points if p["augmentation"] == "without"]
            break
        for share in experiment.settings.learning_curve.shares:
            subset = experiment.training_queries(share, AugmentConfig(seed=shipped.seed))
            train = experiment.training_queries(share, config)
            for name, train_method in (("adapter", experiment.train_adapter),
                                       ("adapter_tail", experiment.train_adapter_tail)):
                retriever, _ = train_method(train, desc=f"{name} on {share:.0%}, {augmentation} augmentation")
                points.append({"method": name, "augmentation": augmentation, "share": share,
                               "train_triplets": len(subset.frame), "train_pairs": len(train.frame),
                               **{split: split_top1(retriever, experiment.cache, queries)
                                  for split, queries in scored.items()}})
                print(points[-1])
    points.sort(key=lambda p: (p["method"], p["augmentation"], p["share"]))
    return {"arithmetic": {split: evaluated[split]["arithmetic"]["top1"] for split in scored}, "points": points}


def draw_learning_curve(curve: dict, out: Path) -> None:
    figure = Figure(figsize=(9, 4))
    axis = figure.subplots()
    for name, colour in zip(METHODS, ("tab:blue", "tab:orange")):
        for augmentation, style in (("without", "o--"), ("with", "s-")):
            mine = [p for p in curve["points"] if p["method"] == name and p["augmentation"] == augmentation]
            if mine:
                axis.plot([p["train_triplets"] for p in mine], [p["test"] for p in mine], style, color=colour,
                          label=f"{name}, {augmentation} augmentation")
    axis.axhline(curve["arithmetic"]["test"], color="grey", linestyle=":", label="zero-shot arithmetic")
    axis.set_xlabel("training triplets (before augmentation)")
    axis.set_ylabel("test Top-1")
    axis.set_title("What training buys, with and without the edit algebra")
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    figure.tight_layout()
    figure.savefig(out, dpi=120)
