"""A browser app over the packaged model (Gradio, as a Hugging Face Space runs it).

Tab "Search": pick a reference image of a split (or upload one), type a modification text, and see the tagger's
parse as add/remove chips and the top 5 of the split's database with their cosine scores: `pipeline.app.search`, so
the judge's own code path. Tab "Queries": the evaluate stage's per-query tables (`eval/queries/*.parquet`),
filtered by method, split, wording family, hit/miss, what a miss got wrong (pipeline/measurement/diagnosis.py) and
what the tagger's parse got wrong (pipeline/measurement/tagger_evaluation.py),
with a query's reference, text, prediction and target side by side.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pandas as pd

from pipeline.app.search import Database, Searcher, SearchError
from pipeline.data.dataset import PLAIN_TWIN, SplitSource, load_manifest, resolve_source
from pipeline.parse_errors import ERROR_CLASSES, error_classes
from pipeline.paths import MANIFEST, QUERY_TABLES, REPO, SYNTHETIC_ROOT

TOP = 5
CHIP_COLOURS = {"add": "#2e7d32", "remove": "#c62828"}
ALL = "all"
OUTCOMES = (ALL, "hit", "miss")
TABLE_ROWS = 200  # rows listed at once: a filter narrows them


def find_splits() -> dict[str, SplitSource]:
    """The pipeline's splits: the manifest's (what `dvc repro` ran on), else the synthetic folders."""
    if MANIFEST.is_file():
        return load_manifest()
    return resolve_source("synthetic") if SYNTHETIC_ROOT.is_dir() else {}


class QueryTables:
    """The evaluate stage's per-query tables, one per split, with each query's wording family where the data
    says it (the synthetic splits' queries.parquet)."""

    def __init__(self, folder: Path, splits: dict[str, SplitSource]):
        self.splits = splits
        self.tables = {}
        for path in sorted(folder.glob("*_queries.parquet")):
            split = path.name.removesuffix("_queries.parquet")
            if split in splits:
                self.tables[split] = self._with_family(pd.read_parquet(path), splits[split])

    @staticmethod
    def _with_family(table: pd.DataFrame, split: SplitSource) -> pd.DataFrame:
        """The table with each query's wording family and what the tagger's parse got wrong (ERROR_CLASSES),
        where the split records its edits."""
        truth = Path(split.csv).parent / "queries.parquet"
        if not truth.is_file():
            return table.assign(family="", parse_errors=[[] for _ in range(len(table))])
        keys = ["query_image", "query_text", "target_image"]
        known = pd.read_parquet(truth, columns=keys + ["family", "add", "remove"]).drop_duplicates(keys)
        table = table.merge(known.rename(columns={"add": "gold_add", "remove": "gold_remove"}), on=keys, how="left")
        lowered = lambda names: [n.lower() for n in names] if isinstance(names, (list, np.ndarray)) else []  # noqa: E731
        errors = [error_classes(SimpleNamespace(add=lowered(r.gold_add), remove=lowered(r.gold_remove)),
                                SimpleNamespace(add=list(r.add), remove=list(r.remove))) for r in table.itertuples()]
        return table.assign(parse_errors=errors).fillna({"family": ""})

    def methods(self) -> list[str]:
        columns = {c for table in self.tables.values() for c in table.columns}
        return sorted(c.removeprefix("rank_") for c in columns if c.startswith("rank_"))

    def miss_classes(self) -> list[str]:
        """What the tables say misses got wrong (evaluate's `miss_<method>` columns,
        pipeline/measurement/diagnosis.py)."""
        return sorted({value for table in self.tables.values() for column in table.columns
                       if column.startswith("miss_") for value in table[column].unique() if value})

    def families(self, split: str) -> list[str]:
        table = self.tables.get(split)
        return [ALL] + (sorted(f for f in table.family.unique() if f) if table is not None else [])

    def filter(self, method: str, split: str, family: str, outcome: str, miss: str = ALL,
               parse: str = ALL) -> pd.DataFrame:
        """The split's queries under the filters, with the method's rank (0: its top-1 is the target); `miss`:
        one of `miss_classes()` keeps the misses of that class (where the table records them); `parse`: one of
        ERROR_CLASSES keeps the queries whose parse shows it."""
        table = self.tables.get(split)
        if table is None or f"rank_{method}" not in table:
            return pd.DataFrame({"query_text": [], "family": [], "rank": []})
        rows = table.assign(rank=table[f"rank_{method}"])
        if family != ALL:
            rows = rows[rows.family == family]
        if outcome != ALL:
            rows = rows[(rows["rank"] == 0) == (outcome == "hit")]
        if miss != ALL:
            rows = rows[rows.get(f"miss_{method}", pd.Series("", index=rows.index)) == miss]
        if parse != ALL:
            rows = rows[rows.parse_errors.map(lambda errors: parse in errors)]
        return rows

    def prediction(self, row: pd.Series, method: str) -> str | None:
        """The method's top-1 image: stored per method, or adapter_tail's top 5 by older evaluate runs."""
        if f"prediction_{method}" in row:
            return row[f"prediction_{method}"]
        return list(row["top"])[0] if method == "adapter_tail" and "top" in row else None

    def side_by_side(self, split: str, query: int, method: str) -> tuple[list, str]:
        """The split's query number `query`: (reference, prediction, target) images with captions, and the
        query told in words."""
        row = self.tables[split].loc[query]
        rank = int(row[f"rank_{method}"])
        images = Path(self.splits[split].images)
        prediction = self.prediction(row, method)
        gallery = [(str(images / row.query_image), "reference"),
                   *([(str(images / prediction), f"prediction ({method})")] if prediction else []),
                   (str(images / row.target_image), "target")]
        verdict = "hit" if rank == 0 else f"miss: the target is at rank {rank + 1}"
        words = (f"**{row.query_text}**  \nparse: add {list(row['add'])}, remove {list(row['remove'])}  \n"
                 f"{method}: {verdict}" + ("" if prediction else f"  \n(no prediction stored for {method})"))
        return gallery, words


def _error(message: str) -> str:
    return f"⚠️ **{message}**"


def build_app(repo: Path = REPO, splits: dict[str, SplitSource] | None = None,
              tables: Path = QUERY_TABLES) -> gr.Blocks:
    splits = find_splits() if splits is None else splits
    searchable = {name: split for name, split in splits.items() if name != PLAIN_TWIN}  # the twin: test's images
    databases: dict[str, Database] = {}
    searcher: list[Searcher] = []  # loaded at the first search, so that the page opens at once
    queries = QueryTables(tables, splits)

    def database(split: str) -> Database:
        if split not in databases:
            databases[split] = Database.from_split(searchable[split])
        return databases[split]

    def references(split: str):
        if split not in searchable:
            return gr.update(choices=[], value=None)
        names = list(pd.unique(searchable[split].load().query_image))
        return gr.update(choices=names, value=names[0] if names else None)

    def pick(split: str, name: str | None) -> str | None:
        return str(Path(searchable[split].images) / name) if split in searchable and name else None

    def search(split: str, image: str | None, text: str):
        try:
            if split not in searchable:
                raise SearchError("no split to search: run `make demo` first, or pick a split")
            if not image:
                raise SearchError("no reference image: pick one of the split or upload one")
            if not searcher:
                searcher.append(Searcher(repo))
            result = searcher[0].search(database(split), image, text, TOP)
        except SearchError as error:
            return [], [], _error(str(error))
        chips = [(name, "add") for name in result.add] + [(name, "remove") for name in result.remove]
        hits = [(str(hit.path), f"{i + 1}. cosine {hit.score:.4f}" + (" (target)" if hit.name == result.target
                                                                       else "")) for i, hit in enumerate(result.hits)]
        stored = result.database
        status = [f"{len(stored.names)} database images of `{split}` ({stored.from_store} from the store, "
                  f"{stored.encoded} encoded now)"]
        if result.target is not None:
            status.append(f"target `{result.target}`: rank {result.target_rank + 1}")
        return chips, hits, "  \n".join(status + [f"note: {note}" for note in result.notes])

    def browse(method: str, split: str, family: str, outcome: str, miss: str, parse: str):
        rows = queries.filter(method, split, family, outcome, miss, parse)
        hits = int((rows["rank"] == 0).sum())
        listed = rows.head(TABLE_ROWS)
        shown = pd.DataFrame({"query": listed.index, "text": listed.query_text, "family": listed.family,
                              "rank": listed["rank"] + 1})
        summary = (f"{len(rows)} queries ({hits} hits, Top-1 {hits / len(rows):.3f})" if len(rows)
                   else "no query matches these filters" if queries.tables else
                   "no per-query tables yet: run `make demo` (the evaluate stage writes eval/queries/)")
        return shown, summary

    def show(method: str, split: str, table: pd.DataFrame, event: gr.SelectData):
        if table is None or not len(table) or split not in queries.tables:
            return [], ""
        return queries.side_by_side(split, int(table.iloc[event.index[0]]["query"]), method)

    names = list(searchable)
    with gr.Blocks(title="Composed image retrieval", analytics_enabled=False) as app:
        gr.Markdown("# Composed image retrieval\nA reference image and a modification text → the database image "
                    f"that matches, by the packaged model (`{repo}`), as the judge runs it.")
        with gr.Tab("Search"):
            with gr.Row():
                with gr.Column(scale=1):
                    split = gr.Dropdown(names, value=names[0] if names else None, label="split (its database)")
                    reference_name = gr.Dropdown([], label="reference image of the split")
                    reference = gr.Image(type="filepath", label="reference (picked, or upload your own)",
                                         height=256, elem_id="reference")
                    text = gr.Textbox(label="modification text", placeholder="add a cat and remove the dog",
                                      elem_id="query-text")
                    go = gr.Button("Search", variant="primary", elem_id="search-button")
                with gr.Column(scale=2):
                    chips = gr.HighlightedText(label="parse: what the query adds and removes",
                                               color_map=CHIP_COLOURS, show_legend=True, elem_id="parse")
                    hits = gr.Gallery(label=f"top {TOP}", columns=TOP, height=300, elem_id="results")
                    message = gr.Markdown(elem_id="message")
            split.change(references, split, reference_name)
            reference_name.change(pick, [split, reference_name], reference)
            app.load(references, split, reference_name)
            go.click(search, [split, reference, text], [chips, hits, message])
            text.submit(search, [split, reference, text], [chips, hits, message])
        with gr.Tab("Queries"):
            methods, table_splits = queries.methods(), list(queries.tables)
            with gr.Row():
                method = gr.Dropdown(methods, value="adapter_tail" if "adapter_tail" in methods else
                                     (methods[0] if methods else None), label="method")
                table_split = gr.Dropdown(table_splits, value="test" if "test" in table_splits else
                                          (table_splits[0] if table_splits else None), label="split")
                family = gr.Dropdown([ALL], value=ALL, label="wording family")
                outcome = gr.Radio(list(OUTCOMES), value="miss", label="outcome")
                miss = gr.Dropdown([ALL, *queries.miss_classes()], value=ALL, label="what the miss got wrong")
                parse = gr.Dropdown([ALL, *ERROR_CLASSES], value=ALL, label="what the parse got wrong")
            summary = gr.Markdown()
            listed = gr.Dataframe(interactive=False, label="queries (select one)", max_height=320)
            side = gr.Gallery(label="reference · prediction · target", columns=3, height=280)
            told = gr.Markdown()
            filters = [method, table_split, family, outcome, miss, parse]
            table_split.change(lambda s: gr.update(choices=queries.families(s), value=ALL), table_split, family)
            for control in filters:
                control.change(browse, filters, [listed, summary])
            app.load(browse, filters, [listed, summary])
            app.load(lambda s: gr.update(choices=queries.families(s), value=ALL), table_split, family)
            listed.select(show, [method, table_split, listed], [side, told])
    return app


def allowed_paths(splits: dict[str, SplitSource]) -> list[str]:
    """The folders whose images the page may show (Gradio serves no other file)."""
    return sorted({str(Path(s.images).resolve()) for s in splits.values()})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.app.ui", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=REPO, help="the packaged repo (default: %(default)s)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    args = parser.parse_args(argv)
    splits = find_splits()
    build_app(args.repo, splits).launch(server_name=args.host, server_port=args.port,
                                        allowed_paths=allowed_paths(splits))


if __name__ == "__main__":
    main()
