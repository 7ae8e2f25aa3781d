"""Prints what the stored database embeddings buy `python -m pipeline.app.search`, in one run.

On a copy of --database (its files linked, so the real database's store is left alone) and the packaged --repo:
  - first: a query over a database never seen (every image hashed, checked and encoded, the store written);
  - second: the next query, same process (the store read back: only the query is encoded);
  - fresh_process: a query by a new Searcher, as a second `search` command would run (repo loaded again, not
    timed; the store read);
  - query_only: `encode_queries` alone on that query, the floor a stored database can reach.
first / second is what the store saves; second / query_only what reading it still costs.
Usage: python -m benchmarks.search_store [--repo dist/hf_repo] [--database data/synth/test] [--queries 5]
"""
import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from pipeline.app.search import DEFAULT_DATABASE, Database, Searcher
from pipeline.paths import REPO


def linked_copy(database: Path, out: Path) -> Path:
    """The database folder with every file linked, not copied: the same bytes, its own store."""
    return Path(shutil.copytree(database, out, copy_function=lambda src, dst: Path(dst).symlink_to(Path(src)
                                                                                                   .resolve())))


def timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=REPO)
    parser.add_argument("--database", type=Path, default=DEFAULT_DATABASE)
    parser.add_argument("--queries", type=int, default=5, help="queries timed after the first (median)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        database = Database.open(linked_copy(args.database, Path(tmp) / args.database.name))
        if database.queries is None:
            raise SystemExit(f"{args.database}: a challenge folder (data.csv) is needed, for its query rows")
        rows = list(database.queries[["query_image", "query_text"]].itertuples(index=False))[: args.queries + 1]
        searcher = Searcher(args.repo)
        first, result = timed(lambda: searcher.search(database, *rows[0]))
        assert result.database.encoded == len(database.images)
        second = [timed(lambda: searcher.search(database, *row)) for row in rows[1:]]
        assert all(r.database.from_store == len(database.images) for _, r in second)
        fresh = Searcher(args.repo)
        fresh_process, _ = timed(lambda: fresh.search(database, *rows[0]))
        image = str(searcher.query_image(rows[0][0], database))
        query_only = [timed(lambda: searcher.embeds.encode_queries(pd.DataFrame(
            {"query_image": [image], "query_text": [rows[0][1]]})))[0] for _ in rows[1:]]
    median = lambda values: sorted(values)[len(values) // 2]  # noqa: E731
    report = {"database_images": len(database.images), "first_s": round(first, 3),
              "second_s": round(median([s for s, _ in second]), 3), "fresh_process_s": round(fresh_process, 3),
              "query_only_s": round(median(query_only), 3)}
    report["first_over_second"] = round(report["first_s"] / report["second_s"], 1)
    report["second_over_query_only"] = round(report["second_s"] / report["query_only_s"], 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
