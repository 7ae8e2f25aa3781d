"""The documents' result tables, generated from metrics/*.json so that they cannot drift from the files.

README.md and docs/*.md hold marker pairs, `<!-- generated: NAME -->` … `<!-- /generated -->`; this fills each
with the table NAME names, and under it the metrics file it was made from with the md5 dvc.lock recorded for it
(pipeline/measurement/provenance.py). A table whose metrics file does not exist yet says which command writes it;
one whose stage would rerun (its params, code or an upstream stage changed since it ran) shows no figures, only
why and the command that tables it again: its figures are from a model or code that no longer ships.

    python -m pipeline.measurement.report          # rewrite the tables in place
    python -m pipeline.measurement.report --check  # exit 1, naming them, when a table differs from what metrics/ says
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

from pipeline.config.section import load_section
from pipeline.config.tagger import TaggerConfig, TaggerDevelopment
from pipeline.measurement.benchmark_outputs import (
    BACKBONE_METRICS,
    FRESH_CLONE_METRICS,
    TAGGER_RECIPE_METRICS,
    TEAM_OBJECTS_METRICS,
)
from pipeline.measurement.provenance import Lock
from pipeline.measurement.splits import SCENE_SPLITS, use_of, wording_splits
from pipeline.measurement.sweep import COLUMNS as SWEEP_COLUMNS
from pipeline.measurement.sweep import SWEEP_METRICS
from pipeline.measurement.sweep import markdown as sweep_markdown
from pipeline.paths import (
    AUGMENTATION_METRICS,
    DIAGNOSIS_METRICS,
    EVAL_METRICS,
    HEADLINE_METRICS,
    LEARNING_CURVE_METRICS,
    SUBMISSION_METRICS,
    TAGGER_METRICS,
)

DOCUMENTS = [Path("README.md"), *sorted(Path("docs").glob("*.md"))]
MARKERS = re.compile(r"(<!-- generated: (?P<name>[a-z_]+) -->\n)(?P<body>.*?)(<!-- /generated -->)", re.DOTALL)
SPLITS = ("val", "test", "test_plain", "out_of_generator", "look_shift")


def _number(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) <= 1 else f"{value:g}"  # shares and Top-1s to 3 places; sizes, seconds
    return "" if value is None else str(value)


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_number(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _headline_use(key: str) -> str:
    """What the split behind a headline figure is used for: a selection figure says so."""
    split = next((s.name for s in sorted(SCENE_SPLITS, key=lambda s: -len(s.name))
                  if key.startswith(f"top1_{s.name}")), "test" if key == "judge_top1" else None)
    if key == "tagger_heldout_exact":
        return "held-out (the sealed wording)"
    if split is None:
        return ""
    return f"**selection figure**: {split} chooses" if use_of(split) == "choosing" else f"{use_of(split)} ({split})"


def headline(m: dict) -> str:
    return _table(["figure", "value", "its split is used for"],
                  [[key, f"{value:.5f}" if "cosine" in key else value, _headline_use(key)] for key, value in m.items()])


def splits(tagger: TaggerConfig, development: TaggerDevelopment) -> str:
    rows = [*SCENE_SPLITS, *wording_splits(tagger, development)]
    return _table(["split", "drawn by", "used for", "read by"], [[s.name, s.drawn_by, s.used_for, s.read_by]
                                                                 for s in rows])


def methods(m: dict) -> str:
    splits = [s for s in SPLITS if s in m]
    names = list(m[splits[0]]) if splits else []
    names = [n for n in names if isinstance(m[splits[0]][n], dict) and "top1" in m[splits[0]][n]]
    return _table(["method", *[f"{s} Top-1" for s in splits]], [[n, *[m[s][n]["top1"] for s in splits]] for n in names])


def shapes(m: dict, method: str = "adapter_tail") -> str:
    splits = [s for s in SPLITS if method in m.get(s, {})]
    shape_names = sorted({shape for s in splits for shape in m[s][method]["by_shape"]})
    def cell(split: str, shape: str) -> str:
        found = m[split][method]["by_shape"].get(shape)
        return f"{found['top1']:.3f} ({found['queries']})" if found else ""
    rows = [[shape, *[cell(s, shape) for s in splits]] for shape in shape_names]
    rows += [[f"{company} company", *[(lambda c: f"{c['top1']:.3f} ({c['queries']})" if c else "")(
        m[s][method]["by_company"].get(company)) for s in splits]] for company in ("seen", "unseen")]
    return f"`{method}`, Top-1 (queries) by edit shape (adds+removes) and by company:\n\n" + _table(
        ["edit", *splits], rows)


def looks(m: dict, split: str = "look_shift", zero_shot: str = "arithmetic") -> str:
    """Top-1 per look of the look-shift split for every method, and each fine-tuned method's gain over zero-shot
    arithmetic on that look."""
    scored = m.get(split, {})
    methods = [n for n in scored if "by_look" in scored[n]]
    if not methods:
        return f"_(no look-shift figures: `{split}` was not scored)_\n"
    names = list(scored[methods[0]]["by_look"])
    tuned = [n for n in methods if n in ("adapter", "adapter_tail", "combiner")]
    rows = [[look, scored[methods[0]]["by_look"][look]["queries"],
             *[scored[n]["by_look"][look]["top1"] for n in methods],
             *[scored[n]["by_look"][look]["top1"] - scored[zero_shot]["by_look"][look]["top1"] for n in tuned]]
            for look in names]
    return (f"`{split}`: Top-1 per look its writer drew (`plain`: the challenge's grey floors), per method, and each "
            f"fine-tuned method's gain over zero-shot `{zero_shot}` on that look:\n\n"
            + _table(["look", "queries", *methods, *[f"{n} − {zero_shot}" for n in tuned]], rows))


def misses(m: dict, method: str = "adapter_tail") -> str:
    splits = [s for s in SPLITS if method in m.get(s, {})]
    classes = [c for c in m[splits[0]][method]["misses"] if c != "count"] if splits else []
    rows = [["misses", *[m[s][method]["misses"]["count"] for s in splits]]]
    rows += [[c, *[m[s][method]["misses"][c] for s in splits]] for c in classes]
    return f"`{method}`: its misses, and the share of them in each class:\n\n" + _table(["", *splits], rows)


def tagger(m: dict) -> str:
    rows = [["sealed held-out wording (held-out: its one figure)", m["heldout"]["exact"], m["heldout"]["n"]]]
    rows += [[f"sealed names, {wording} wording, {kind.replace('_', ' ')} (held-out)", scores["exact"], scores["n"]]
             for wording, kinds in m.get("sealed_names", {}).items() for kind, scores in kinds.items()]
    rows += [[f"development names, {wording} wording, {kind.replace('_', ' ')} (choosing)", scores["exact"],
              scores["n"]]
             for wording, kinds in m.get("development_names", {}).items() for kind, scores in kinds.items()]
    rows += [[f"development wording: {name}", scores["exact"], scores.get("n", "")]
             for name, scores in m.get("development_wordings_used_to_choose_the_recipe", {}).items()]
    return _table(["texts", "exact parse", "texts scored"], rows)


def tagger_errors(m: dict) -> str:
    counts = m.get("development_error_classes", {})
    classes = list(next(iter(counts.values()), {}))
    return _table(["development wording", *classes],
                  [[name, *[row[c] for c in classes]] for name, row in counts.items()])


def augmentation(m: dict) -> str:
    return _table(["training pairs", "method", "train queries", "val", "test", "test_plain"],
                  [[r["variant"], r["method"], r["train_queries"], r["val"], r["test"], r.get("test_plain")]
                   for r in m["rows"]])


def learning_curve(m: dict) -> str:
    return _table(["method", "augmentation", "share of training references", "triplets", "val", "test"],
                  [[p["method"], p["augmentation"], p["share"], p["train_triplets"], p["val"], p["test"]]
                   for p in m["points"]])


def sweep(m: dict) -> str:
    latest = m["sweeps"][0]
    return (f"Against commit `{latest['baseline'][:7]}`: chosen on val and the out-of-generator split, "
            f"**{latest['chosen']}** (`adapter_tail` Top-1 per split; columns: {', '.join(SWEEP_COLUMNS)}).\n\n"
            + sweep_markdown(latest["rows"], latest["chosen"]))


def tagger_recipe(m: list) -> str:
    """The tagger's recipes as benchmarks/tagger_recipe.py scored them, as they ship, on development material (the
    name alone): each development wording, and the development names in rigid and free wording."""
    files = [k for k in m[0] if isinstance(m[0][k], dict)] if m else []
    named = lambda variant: re.sub(r"corpus\+?=([^;]+)", lambda c: (  # noqa: E731
        "corpus + " if "+=" in c[0] else "corpus: ") + ", ".join(f"`{Path(f).stem}`" for f in c[1].split(",")), variant)
    return _table(["recipe (params changed)", *files, "training min"],
                  [[named(r["variant"]), *[r[f]["exact_strict"] for f in files], f"{r['train_seconds'] / 60:.1f}"]
                   for r in m])


def team_objects(m: dict) -> str:
    """Our catalog's splits beside a team's own objects (benchmarks/team_objects.py): Top-1 per method and the
    tagger's exact parses, in the sealed wording (test) and the challenge's rigid wording (test_plain)."""
    methods_ = list(m["catalog"]["test"]["top1"])
    return _table(["objects the splits show", *[f"test {k}" for k in methods_], "test_plain adapter_tail",
                   "parse exact: test", "test_plain", "zero-shot object recall"],
                  [[objects.replace("_", " "), *[r["test"]["top1"][k] for k in methods_],
                    r["test_plain"]["top1"]["adapter_tail"], r["test"]["tagger_exact"], r["test_plain"]["tagger_exact"],
                    r["zero_shot_object_recall"]] for objects, r in m.items() if isinstance(r, dict)])


def backbone_families(m: dict) -> str:
    return _table(["family", "large member", "tail units (K ≤)", "submission, fp16", "fits 4 GB", "tested as"],
                  [[r["family"], f"`{r['model']}`", f"{r['units']} {r['unit']}s", f"{r['bytes'] / 1e9:.2f} GB",
                    "yes" if r["fits"] else "no", f"`{r['test']}`"] for r in m["families"]])


def submission(m: dict) -> str:
    keys = ["top1", "queries", "database", "min_cosine", "size_bytes", "process_seconds", "import_seconds",
            "load_seconds", "database_seconds", "queries_seconds", "python", "device", "dtype"]
    return _table(["the packaged repo, run as the judge runs it", "value"], [[k, m[k]] for k in keys if k in m])


def fresh_clone(m: dict) -> str:
    runs = _table(["in a fresh clone", "minutes", "exit status", "commit", "measured", "machine"],
                  [[f"`make {target}`", f"{run['seconds'] / 60:.1f}", run["exit_status"], f"`{run['commit']}`",
                    run["date"], run["machine"]] for target, run in m["targets"].items()])
    spent = [f"\nWhere `make {target}`'s {run['seconds'] / 60:.1f} min went (set-up is everything before the first "
             f"stage that ran; the last stage includes the tables written after it):\n\n"
             + _table(["phase", "minutes"], [[phase, f"{spent / 60:.1f}"] for phase, spent in run["phases"].items()])
             for target, run in m["targets"].items() if "phases" in run]
    return runs + "".join(spent)


TABLES: dict[str, tuple[Path, Callable, str]] = {  # name -> metrics file, table, command writing it
    "headline": (HEADLINE_METRICS, headline, "make demo"),
    "methods": (EVAL_METRICS, methods, "make demo"),
    "shapes": (DIAGNOSIS_METRICS, shapes, "make demo"),
    "misses": (DIAGNOSIS_METRICS, misses, "make demo"),
    "looks": (DIAGNOSIS_METRICS, looks, "make demo"),
    "tagger": (TAGGER_METRICS, tagger, "make demo"),
    "tagger_errors": (TAGGER_METRICS, tagger_errors, "make demo"),
    "augmentation": (AUGMENTATION_METRICS, augmentation, "make ablations"),
    "learning_curve": (LEARNING_CURVE_METRICS, learning_curve, "make ablations"),
    "sweep": (SWEEP_METRICS, sweep, "make sweep"),
    "submission": (SUBMISSION_METRICS, submission, "make demo"),
    "fresh_clone": (FRESH_CLONE_METRICS, fresh_clone, "python -m benchmarks.fresh_clone"),
    "tagger_recipe": (TAGGER_RECIPE_METRICS, tagger_recipe, "python -m benchmarks.tagger_recipe"),
    "backbone_families": (BACKBONE_METRICS, backbone_families, "python -m benchmarks.backbone_families"),
    "team_objects": (TEAM_OBJECTS_METRICS, team_objects, "python -m benchmarks.team_objects"),
}


def render(name: str, lock: Lock | None = None) -> str:
    if name == "splits":  # from params.yaml and the code's own list: no metrics file
        return splits(load_section(TaggerConfig), load_section(TaggerDevelopment))
    if name not in TABLES:
        raise KeyError(f"no generated table named {name!r}; known: splits, {', '.join(TABLES)}")
    path, table, command = TABLES[name]
    if not path.is_file():
        return f"_(`{path}` is not written yet: run `{command}`)_\n"
    provenance = (lock or Lock()).provenance(path)
    if provenance.stale:
        return (f"_(No figures: stage `{provenance.stage}`, which writes `{path}`, would rerun — "
                f"{'; '.join(provenance.stale[:3])}. `{command}` tables them again.)_\n")
    return table(json.loads(path.read_text())) + "\n" + provenance.footer(command)


def filled(text: str, lock: Lock | None = None) -> str:
    lock = lock or Lock()
    return MARKERS.sub(lambda match: match.group(1) + render(match.group("name"), lock) + match.group(4), text)


def main(argv: list[str] | None = None) -> None:
    parser_ = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser_.add_argument("--check", action="store_true", help="only say which documents are out of date")
    args = parser_.parse_args(argv)
    stale, lock = [], Lock()
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        new = filled(text, lock)
        if new != text:
            stale.append(str(document))
            if not args.check:
                document.write_text(new, encoding="utf-8")
    if args.check and stale:
        sys.exit(f"generated tables out of date in {', '.join(stale)}: run python -m pipeline.measurement.report")
    print("\n".join(f"{'out of date' if args.check else 'rewrote'}: {d}" for d in stale) or "tables up to date")


if __name__ == "__main__":
    main()
