"""DVC stage `learning_curve`: what training buys, by how much of it there is. The adapter and adapter_tail are
trained afresh on a share of the training reference images (whole groups) and scored on val and test; the whole
training split's point is `evaluate`'s; zero-shot arithmetic, which learns nothing, is the floor. Writes
metrics/learning_curve.json and plots/learning_curve.png."""
import json

from matplotlib.figure import Figure

from pipeline.console import show_logs
from pipeline.evaluation import top1
from pipeline.experiment import Experiment
from pipeline.paths import EVAL_METRICS, LEARNING_CURVE_METRICS, LEARNING_CURVE_PLOT


def main() -> None:
    show_logs()
    experiment = Experiment.load()
    scored = {split: experiment.queries(split) for split in ("val", "test")}
    train = experiment.queries("train")
    shares = experiment.params["learning_curve"]["shares"]
    evaluated = json.loads(EVAL_METRICS.read_text())
    points = [{"method": name, "share": 1.0, "train_queries": len(train.frame),
               **{split: evaluated[split][name]["top1"] for split in ("val", "test")}}
              for name in ("adapter", "adapter_tail")]
    for share in shares:
        subset = train.reference_groups(share, experiment.params["learning_curve"]["seed"])
        for name, train_method in (("adapter", experiment.train_adapter),
                                   ("adapter_tail", experiment.train_adapter_tail)):
            retriever, _ = train_method(subset, desc=f"{name} on {share:.0%}")
            points.append({"method": name, "share": share, "train_queries": len(subset.frame),
                           **{split: top1(retriever, experiment.cache, queries) for split, queries in scored.items()}})
            print(points[-1])
    points.sort(key=lambda p: (p["method"], p["share"]))
    floor = {split: evaluated[split]["arithmetic"]["top1"] for split in ("val", "test")}
    LEARNING_CURVE_METRICS.write_text(json.dumps({"arithmetic": floor, "points": points}, indent=2) + "\n")

    figure = Figure(figsize=(6, 4))
    axis = figure.subplots()
    for name, style in (("adapter", "o-"), ("adapter_tail", "s-")):
        mine = [p for p in points if p["method"] == name]
        axis.plot([p["train_queries"] for p in mine], [p["test"] for p in mine], style, label=f"{name} (test)")
    axis.axhline(floor["test"], color="grey", linestyle="--", label="zero-shot arithmetic (test)")
    axis.set_xlabel("training queries")
    axis.set_ylabel("Top-1")
    axis.set_title("What training buys")
    axis.legend()
    figure.tight_layout()
    figure.savefig(LEARNING_CURVE_PLOT, dpi=120)


if __name__ == "__main__":
    main()
