"""The Gradio app: the per-query browser on a table made by searching the split, and the search page served on
localhost and driven in a real headless Chromium (Debian's, through Playwright)."""
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from pipeline.app.search import Database, Searcher
from pipeline.app.space import write_space
from pipeline.app.ui import ALL, QueryTables, allowed_paths, build_app
from pipeline.data.dataset import DISTRACTORS_CSV, SplitSource
from pipeline.measurement.diagnosis import MISS_CLASSES, SplitRecord, catalog_pairs
from pipeline.parse_errors import ERROR_CLASSES

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
QUERY = "add a cat and remove the dog"


@pytest.fixture(scope="module")
def splits(small_split, tmp_path_factory):
    folder = Path(shutil.copytree(small_split, tmp_path_factory.mktemp("app") / "test"))
    distractors = folder / DISTRACTORS_CSV
    return {"test": SplitSource(str(folder / "data.csv"), str(folder / "images"),
                                distractors=str(distractors) if distractors.is_file() else None)}


@pytest.fixture(scope="module")
def tables(repo, splits, tmp_path_factory):
    """An evaluate-style per-query table of the split, its ranks and top 5 from `search` itself."""
    searcher, split = Searcher(repo), splits["test"]
    database, frame = Database.from_split(split), split.load()
    results = [searcher.search(database, row.query_image, row.query_text) for row in frame.itertuples()]
    table = frame.assign(add=[r.add for r in results], remove=[r.remove for r in results],
                         rank_adapter_tail=[r.target_rank for r in results],
                         prediction_adapter_tail=[r.hits[0].name for r in results],
                         top=[[h.name for h in r.hits] for r in results])
    held_out, index = catalog_pairs(0.15, 0)
    table = SplitRecord.find(split).diagnose(table, ["adapter_tail"], held_out, index)
    folder = tmp_path_factory.mktemp("eval")
    table.to_parquet(folder / "test_queries.parquet", index=False)
    return folder


def test_query_browser_filters_and_shows_a_miss_side_by_side(splits, tables):
    queries = QueryTables(tables, splits)
    assert queries.methods() == ["adapter_tail"]
    truth = pd.read_parquet(Path(splits["test"].csv).parent / "queries.parquet")
    assert queries.families("test") == [ALL] + sorted(truth.family.unique())
    everything = queries.filter("adapter_tail", "test", ALL, ALL)
    hits, misses = (queries.filter("adapter_tail", "test", ALL, outcome) for outcome in ("hit", "miss"))
    assert len(hits) + len(misses) == len(everything) == len(truth) and len(misses)
    assert (hits["rank"] == 0).all() and (misses["rank"] > 0).all()
    family = truth.family.iloc[0]
    assert (queries.filter("adapter_tail", "test", family, ALL).family == family).all()
    assert set(queries.miss_classes()) <= set(MISS_CLASSES) and queries.miss_classes()
    by_class = [queries.filter("adapter_tail", "test", ALL, "miss", c) for c in MISS_CLASSES]
    assert sum(len(rows) for rows in by_class) == len(misses)
    assert all((rows.miss_adapter_tail == c).all() for rows, c in zip(by_class, MISS_CLASSES))
    exact = [sorted(map(str.lower, r.gold_add)) == sorted(r.add) and sorted(map(str.lower, r.gold_remove)) ==
             sorted(r.remove) for r in everything.itertuples()]
    assert (everything.parse_errors.map(len) == 0).tolist() == exact  # a parse has errors exactly when it is wrong
    for error in ERROR_CLASSES:
        rows = queries.filter("adapter_tail", "test", ALL, ALL, ALL, error)
        assert rows.index.equals(everything.index[everything.parse_errors.map(lambda e: error in e)])

    miss = misses.index[0]
    gallery, words = queries.side_by_side("test", miss, "adapter_tail")
    row = everything.loc[miss]
    images = Path(splits["test"].images)
    assert [Path(path) for path, _ in gallery] == [images / row.query_image, images / row.top[0],
                                                   images / row.target_image]
    assert [caption for _, caption in gallery] == ["reference", "prediction (adapter_tail)", "target"]
    assert row.query_text in words and f"rank {row['rank'] + 1}" in words


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_search_page_in_a_headless_browser(repo, splits, tables, tmp_path):
    if CHROMIUM is None:
        pytest.skip("no Chromium: `make setup` installs Debian's `chromium` (apt-get) and could not here")
    from playwright.sync_api import expect, sync_playwright

    add, remove = Searcher(repo).parse(QUERY)
    assert add or remove  # the chips the page must show
    port = _free_port()
    app = build_app(repo, splits, tables)
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
               allowed_paths=allowed_paths(splits))
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/", timeout=60_000)
            expect(page.locator("#reference img")).to_be_visible(timeout=60_000)  # the split's first, picked
            page.locator("#search-button").click()  # no text yet: said in the page
            expect(page.locator("#message")).to_contain_text("the modification text is empty", timeout=60_000)
            page.locator("#query-text textarea").fill(QUERY)
            page.locator("#search-button").click()
            expect(page.locator("#results img")).to_have_count(5, timeout=120_000)
            parse = page.locator("#parse")
            for name in add + remove:
                expect(parse).to_contain_text(name)
            expect(page.locator("#results")).to_contain_text("cosine")
            page.screenshot(path=str(tmp_path / "search.png"), full_page=True)
            browser.close()
    finally:
        app.close()
    assert (tmp_path / "search.png").stat().st_size > 10_000


def test_space_is_written_beside_the_repo_and_runs_on_its_own(repo, splits, tmp_path):
    before = sorted(p.relative_to(repo) for p in repo.rglob("*"))
    space = write_space(tmp_path / "space", repo, splits["test"], "adapter_tail", queries=6)
    assert sorted(p.relative_to(repo) for p in repo.rglob("*")) == before  # nothing of the app in the judge's repo
    assert {"app.py", "requirements.txt", "README.md"} <= {p.name for p in space.iterdir()}
    card = (space / "README.md").read_text()
    assert card.startswith("---\ntitle:") and "sdk: gradio" in card and "app_file: app.py" in card
    assert "gradio==" in (space / "requirements.txt").read_text()
    assert len(pd.read_csv(space / "examples" / "data.csv")) == 6
    with pytest.raises(ValueError, match="beside the judge's repo"):
        write_space(repo / "space", repo, splits["test"], "adapter_tail")

    # A process that sees the Space alone (no project on its path): the app builds, a search runs.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"CIR_MODEL": str(repo)}
    probe = ("import app, gradio; from pipeline.app import search; assert search.__file__.startswith(str(app.HERE))\n"
             "assert isinstance(app.build_app(app.model_folder(), {'examples': app.EXAMPLES}), gradio.Blocks)\n"
             "raise SystemExit(search.main(['--repo', str(app.model_folder()), '--database', 'examples', '--row', "
             "'0']))")
    run = subprocess.run([sys.executable, "-c", probe], cwd=space, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "target:" in run.stdout and "cosine" in run.stdout
