"""The documents' result tables, generated from metrics/*.json so that they cannot drift from the files.

README.md and docs/*.md hold marker pairs, `<!-- generated: NAME -->` … `<!-- /generated -->`; this fills each
with the table NAME names. A table whose metrics file does not exist yet says which command writes it.

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

from benchmarks.fresh_clone import FRESH_CLONE_METRICS
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
SPLITS = ("val", "test", "test_plain", "out_of_generator")


def _number(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) <= 1 else f"{value:g}"  # shares and Top-1s to 3 places; sizes, seconds
    return "" if value is None else str(value)


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_number(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def headline(m: dict) -> str:
    return _table(["figure", "value"], [[key, value] for key, value in m.items()])


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


def misses(m: dict, method: str = "adapter_tail") -> str:
    splits = [s for s in SPLITS if method in m.get(s, {})]
    classes = [c for c in m[splits[0]][method]["misses"] if c != "count"] if splits else []
    rows = [["misses", *[m[s][method]["misses"]["count"] for s in splits]]]
    rows += [[c, *[m[s][method]["misses"][c] for s in splits]] for c in classes]
    return f"`{method}`: its misses, and the share of them in each class:\n\n" + _table(["", *splits], rows)


def tagger(m: dict) -> str:
    rows = [["sealed held-out wording", m["heldout"]["exact"], m["heldout"]["n"]]]
    rows += [[f"held-out family: {name}", scores["exact"], scores["n"]]
             for name, scores in m.get("heldout_families", {}).items()]
    rows += [[f"development wording: {name}", scores["exact"], scores.get("n", "")]
             for name, scores in m.get("development_wordings_used_to_choose_the_recipe", {}).items()]
    return _table(["texts", "exact parse", "texts scored"], rows)


def augmentation(m: dict) -> str:
    return _table(["training pairs", "method", "train queries", "val", "test", "test_plain"],
                  [[r["variant"], r["method"], r["train_queries"], r["val"], r["test"], r.get("test_plain")]
                   for r in m["rows"]])


def learning_curve(m: dict) -> str:
    return _table(["method", "augmentation", "share of training references", "triplets", "val", "test"],
                  [[p["method"], p["augmentation"], p["share"], p["train_triplets"], p["val"], p["test"]]
                   for p in m["points"]])


def sweep(m: dict) -> str:
    return "\n".join(f"Against commit `{s['baseline'][:7]}`{' (the latest)' if i == 0 else ''}: chosen on val and "
                     f"the out-of-generator split, **{s['chosen']}** (`adapter_tail` Top-1 per split; columns: "
                     f"{', '.join(SWEEP_COLUMNS)}).\n\n" + sweep_markdown(s["rows"], s["chosen"])
                     for i, s in enumerate(m["sweeps"]))


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


TABLES: dict[str, tuple[Path, Callable[[dict], str], str]] = {  # name -> metrics file, table, command writing it
    "headline": (HEADLINE_METRICS, headline, "make demo"),
    "methods": (EVAL_METRICS, methods, "make demo"),
    "shapes": (DIAGNOSIS_METRICS, shapes, "make demo"),
    "misses": (DIAGNOSIS_METRICS, misses, "make demo"),
    "tagger": (TAGGER_METRICS, tagger, "make demo"),
    "augmentation": (AUGMENTATION_METRICS, augmentation, "make ablations"),
    "learning_curve": (LEARNING_CURVE_METRICS, learning_curve, "make ablations"),
    "sweep": (SWEEP_METRICS, sweep, "make sweep"),
    "submission": (SUBMISSION_METRICS, submission, "make demo"),
    "fresh_clone": (FRESH_CLONE_METRICS, fresh_clone, "python -m benchmarks.fresh_clone"),
}


def render(name: str) -> str:
    if name not in TABLES:
        raise KeyError(f"no generated table named {name!r}; known: {', '.join(TABLES)}")
    path, table, command = TABLES[name]
    if not path.is_file():
        return f"_(`{path}` is not written yet: run `{command}`)_\n"
    return table(json.loads(path.read_text()))


def filled(text: str) -> str:
    return MARKERS.sub(lambda match: match.group(1) + render(match.group("name")) + match.group(4), text)


def main(argv: list[str] | None = None) -> None:
    parser_ = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser_.add_argument("--check", action="store_true", help="only say which documents are out of date")
    args = parser_.parse_args(argv)
    stale = []
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        new = filled(text)
        if new != text:
            stale.append(str(document))
            if not args.check:
                document.write_text(new, encoding="utf-8")
    if args.check and stale:
        sys.exit(f"generated tables out of date in {', '.join(stale)}: run python -m pipeline.measurement.report")
    print("\n".join(f"{'out of date' if args.check else 'rewrote'}: {d}" for d in stale) or "tables up to date")


if __name__ == "__main__":
    main()
