"""Query the packaged model: a reference image and a modification text against a database (an image folder, or a
challenge folder / `data.csv`: its unique targets, then its distractors) -> the top k images with their cosine
scores, and the tagger's parse (what the query adds, what it removes).

It runs the repo's own `generate_embeds` (loaded in this process by its path, as a judge's harness may), so what it
shows is what the judge scores. The database's embeddings are stored beside it (`<database>.search_store/`: one npy and
one parquet per repo, keyed by the repo's weights and code; rows keyed by each file's content), so a second query
over the same database encodes the query alone, and a changed or added file is the only one encoded again.

    python -m pipeline.app.search --row 0                                  # query 0 of the test split, its target known
    python -m pipeline.app.search --image ref.png --text "add a cat" [--database folder|data.csv] [-k 5] [--png out.png]
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import os
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from pipeline.data.dataset import DISTRACTORS_CSV, SplitSource
from pipeline.paths import REPO, SYNTHETIC_ROOT
from pipeline.shipping.judge_repo import LoadedRepo

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
STORE_SUFFIX = ".search_store"  # .dvcignore names it: a store beside a DVC output does not change that output
UNREADABLE = -1  # a file's row in the store when the judge's loader cannot read it
MEMO_COLUMNS = ["path", "size", "mtime_ns", "sha1"]  # files.parquet: what each file's content hashed to
THUMB = 160
CAPTION = 30
DEFAULT_DATABASE = SYNTHETIC_ROOT / "test"


class SearchError(Exception):
    """Bad input, said in one sentence that names the file or the value: shown to a person, never a traceback."""


@dataclass
class Database:
    """The images a query is searched against, and what the folder held that is not one.

    Args:
        path: the database folder (a challenge folder's, when a `data.csv` was given).
        images: absolute paths, in database order.
        names: the same as written in data.csv, or relative to the folder.
        skipped: files of an image folder that are not images (by suffix), named for the person.
        queries: the challenge rows (query_image, query_text, target_image), when the database is a data.csv.
        images_dir: where those rows' images lie.
    """

    path: Path
    images: list[Path]
    names: list[str]
    skipped: list[str] = field(default_factory=list)
    queries: pd.DataFrame | None = None
    images_dir: Path | None = None  # where the challenge rows' images lie

    @property
    def store(self) -> Path:
        return self.path.parent / f"{self.path.name}{STORE_SUFFIX}"

    @classmethod
    def open(cls, path: str | Path) -> "Database":
        path = Path(path).expanduser()
        if not path.exists():
            raise SearchError(f"database {path}: no such file or folder")
        if path.is_file() and path.suffix != ".csv":
            raise SearchError(f"database {path}: expected an image folder, a challenge folder or its data.csv")
        csv = path if path.is_file() else path / "data.csv"
        return cls._challenge(csv) if csv.is_file() else cls._folder(path)

    @classmethod
    def _challenge(cls, csv: Path) -> "Database":
        folder = csv.parent.resolve()
        distractors = folder / DISTRACTORS_CSV
        return cls.from_split(SplitSource(str(csv), str(folder / "images"),
                                          distractors=str(distractors) if distractors.is_file() else None))

    @classmethod
    def from_split(cls, split: SplitSource) -> "Database":
        """A challenge split's database, as the judge holds it: its unique targets, then its distractors."""
        csv, images_dir = Path(split.csv), Path(split.images).resolve()
        try:
            rows = split.load()
            names = split.database_images(rows)
        except (OSError, KeyError, AttributeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
            raise SearchError(f"database {csv}: not a challenge data.csv (query_image, query_text, target_image; "
                              f"{type(error).__name__}: {error})") from None
        images = [images_dir / name for name in names]
        missing = [name for name, image in zip(names, images) if not image.is_file()]
        if missing:
            raise SearchError(f"database {csv}: {len(missing)} image(s) listed but not under {images_dir}: "
                              f"{', '.join(missing[:5])}")
        if not images:
            raise SearchError(f"database {csv}: no rows, so no database images")
        return cls(csv.parent.resolve(), images, names, queries=rows, images_dir=images_dir)

    @classmethod
    def _folder(cls, folder: Path) -> "Database":
        folder = folder.resolve()
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
        skipped = [p.name for p in files if p.suffix.lower() not in IMAGE_SUFFIXES]
        if not images:
            raise SearchError(f"database {folder}: holds no images (.png, .jpg, .webp …)"
                              + (f"; files that are not: {', '.join(skipped[:5])}" if skipped else ""))
        return cls(folder, images, [p.name for p in images], skipped)

    def target_of(self, image: Path, text: str) -> str | None:
        """The target of the challenge row with this reference and text, when there is one."""
        if self.queries is None:
            return None
        rows = self.queries[(self.queries.query_text == text)
                            & (self.queries.query_image.map(lambda n: self.images_dir / n) == image)]
        return rows.target_image.iloc[0] if len(rows) else None


def file_digest(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha1").hexdigest()


def repo_key(repo: Path) -> str:
    """What the embeddings depend on: the repo's weights and code."""
    digest = hashlib.sha1()
    for path in sorted(repo.rglob("*.py")) + [repo / "weights.pth"]:
        digest.update(f"{path.relative_to(repo)}:{file_digest(path)}".encode())
    return digest.hexdigest()[:16]


def content_digests(images: list[Path], store: Path) -> list[str]:
    """Each file's sha1; a file whose size and modification time the store has seen keeps its recorded digest
    (as git's index does), so an unchanged database is not read again."""
    memo_path = store / "files.parquet"
    memo = pd.read_parquet(memo_path) if memo_path.is_file() else pd.DataFrame(columns=MEMO_COLUMNS)
    known = {path: (size, mtime, sha1) for path, size, mtime, sha1 in memo[MEMO_COLUMNS].itertuples(index=False)}
    stats = [image.stat() for image in images]
    digests, read = [], 0
    for image, stat in zip(images, stats):
        size, mtime, sha1 = known.get(str(image), (None, None, None))
        same = size == stat.st_size and mtime == stat.st_mtime_ns
        digests.append(sha1 if same else file_digest(image))
        read += not same
    if not read:
        return digests
    seen = pd.DataFrame({"path": list(map(str, images)), "size": [s.st_size for s in stats],
                         "mtime_ns": [s.st_mtime_ns for s in stats], "sha1": digests})
    if len(memo):  # other databases' files of the same folder stay remembered
        seen = pd.concat([memo, seen]).drop_duplicates("path", keep="last")
    _save(memo_path, lambda f: seen.to_parquet(f, index=False))
    return digests


def _save(path: Path, write) -> None:
    """Writes through a temporary file, so that a reader never sees half a store; a database on a read-only disk
    just gets no store (said once), and the next query encodes it again."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except OSError as error:
        log.warning("could not store %s (%s): the database will be encoded again next time", path, error)


@dataclass
class DatabaseEmbeddings:
    vectors: np.ndarray  # one row per readable database image
    images: list[Path]  # the readable images, in database order
    names: list[str]
    from_store: int  # rows read from the store
    encoded: int  # rows the repo encoded in this call
    unreadable: list[str]  # database files the judge's loader cannot read (left out)


@dataclass
class Hit:
    name: str
    path: Path
    score: float


@dataclass
class SearchResult:
    image: Path
    text: str
    add: list[str]
    remove: list[str]
    hits: list[Hit]
    database: DatabaseEmbeddings
    skipped: list[str]  # files of the database folder that are not images
    target: str | None = None  # the challenge row's target, when the query is one
    target_rank: int | None = None  # 0: first

    @property
    def notes(self) -> list[str]:
        """What a person should know besides the hits."""
        notes = []
        if not self.add and not self.remove:
            notes.append("the tagger found nothing to add or remove: the query is the reference image itself")
        if self.skipped:
            notes.append(f"skipped {len(self.skipped)} file(s) of the database folder that are not images: "
                         f"{', '.join(self.skipped[:5])}")
        if self.database.unreadable:
            notes.append(f"left out {len(self.database.unreadable)} database image(s) that cannot be read: "
                         f"{', '.join(self.database.unreadable[:5])}")
        return notes


class Searcher:
    """A packaged repo, loaded once: its `generate_embeds` loaded in this process as a judge's harness loads it."""

    def __init__(self, repo: str | Path = REPO):
        self.repo = Path(repo).resolve()
        missing = [n for n in ("generate_embeds.py", "weights.pth") if not (self.repo / n).is_file()]
        if missing:
            raise SearchError(f"repo {repo}: no {', '.join(missing)} (build it with `dvc repro package`)")
        loaded = LoadedRepo.load(self.repo)
        self.embeds = loaded.entry
        try:
            self.model = loaded.model  # loaded now: a broken weights file is said before any search
        except Exception as error:  # a format error, a truncated file, a config this torch cannot build
            raise SearchError(f"repo {repo}: its model cannot be loaded ({type(error).__name__}: {error})") from None
        self.images = loaded.module("images")  # the judge's image loader, as the repo ships it
        self.key = repo_key(self.repo)

    def parse(self, text: str) -> tuple[list[str], list[str]]:
        parsed = self.model.tagger.parse([text])[0]
        return parsed.add, parsed.remove

    def _readable(self, paths: list[Path]) -> list[bool]:
        with ThreadPoolExecutor(4) as pool:
            return list(pool.map(lambda p: self.images.load_rgb(str(p))[1], paths))

    def database_embeddings(self, database: Database) -> DatabaseEmbeddings:
        """The database's rows: from the store where its files' content was encoded by this repo before, the
        rest encoded now (and stored)."""
        store = database.store
        digests = content_digests(database.images, store)
        vectors_path, rows_path = store / f"{self.key}.npy", store / f"{self.key}.parquet"
        if vectors_path.is_file() and rows_path.is_file():
            vectors, known = np.load(vectors_path), pd.read_parquet(rows_path)
        else:
            vectors, known = np.zeros((0, 0), np.float32), pd.DataFrame({"sha1": [], "row": []})
        row_of = dict(zip(known.sha1, known.row))
        new = list(dict.fromkeys(d for d in digests if d not in row_of))
        if new:
            first = {d: image for d, image in reversed(list(zip(digests, database.images)))}
            paths = [first[d] for d in new]
            readable = self._readable(paths)
            to_encode = [p for p, ok in zip(paths, readable) if ok]
            encoded = (self.embeds.encode_database(pd.DataFrame({"target_image": list(map(str, to_encode))}))
                       if to_encode else np.zeros((0, vectors.shape[1] if vectors.size else 0), np.float32))
            start = len(vectors)
            vectors = np.concatenate([vectors, encoded]) if len(vectors) else encoded
            rows = iter(range(start, start + len(to_encode)))
            row_of |= {d: next(rows) if ok else UNREADABLE for d, ok in zip(new, readable)}
            _save(vectors_path, lambda f: np.save(f, vectors))
            _save(rows_path, lambda f: pd.DataFrame({"sha1": list(row_of), "row": list(row_of.values())})
                  .to_parquet(f, index=False))
        rows = np.array([row_of[d] for d in digests])
        keep = rows != UNREADABLE
        encoded_now = sum(row_of[d] != UNREADABLE for d in new)
        return DatabaseEmbeddings(vectors[rows[keep]], [p for p, k in zip(database.images, keep) if k],
                                  [n for n, k in zip(database.names, keep) if k],
                                  from_store=int(keep.sum()) - encoded_now, encoded=encoded_now,
                                  unreadable=[n for n, k in zip(database.names, keep) if not k])

    def query_image(self, image: str | Path, database: Database) -> Path:
        """The reference image's file: as given, or under the database's images."""
        candidates = [Path(image).expanduser()] + [folder / image for folder in (database.images_dir, database.path)
                                                   if folder is not None]
        path = next((c for c in candidates if c.is_file()), None)
        if path is None:
            raise SearchError(f"query image {image}: no such file (also looked under {database.path})")
        if not self.images.load_rgb(str(path))[1]:
            raise SearchError(f"query image {path}: not a readable image")
        return path.resolve()

    def search(self, database: Database, image: str | Path, text: str, k: int = 5) -> SearchResult:
        if not isinstance(text, str) or not text.strip():
            raise SearchError("the modification text is empty: say what to add or remove (\"add a cat\")")
        path = self.query_image(image, database)
        embedded = self.database_embeddings(database)
        if not len(embedded.vectors):
            raise SearchError(f"database {database.path}: none of its images can be read")
        query = self.embeds.encode_queries(pd.DataFrame({"query_image": [str(path)], "query_text": [text]}))[0]
        scores = embedded.vectors @ query
        order = np.argsort(-scores, kind="stable")
        hits = [Hit(embedded.names[i], embedded.images[i], float(scores[i])) for i in order[:k]]
        add, remove = self.parse(text)
        result = SearchResult(path, text, add, remove, hits, embedded, database.skipped, database.target_of(path, text))
        if result.target in embedded.names:
            result.target_rank = int((scores > scores[embedded.names.index(result.target)]).sum())
        return result


def format_result(result: SearchResult) -> str:
    lines = [f"query: {result.image}", f"text:  {result.text}",
             f"parse: add {result.add or '-'}, remove {result.remove or '-'}",
             f"database: {len(result.database.names)} images ({result.database.from_store} read from the store, "
             f"{result.database.encoded} encoded now)"]
    if result.target is not None:
        rank = "not in the database" if result.target_rank is None else f"rank {result.target_rank + 1}"
        lines.append(f"target: {result.target} ({rank})")
    lines += [f"note: {note}" for note in result.notes]
    lines.append(f"{'rank':>4}  {'cosine':>7}  image")
    lines += [f"{i + 1:>4}  {hit.score:7.4f}  {hit.name}{'   <- target' if hit.name == result.target else ''}"
              for i, hit in enumerate(result.hits)]
    return "\n".join(lines)


def _thumb(path: Path, loader, border: str, caption: str) -> Image.Image:
    tile = Image.new("RGB", (THUMB, THUMB + CAPTION), "white")
    tile.paste(loader(str(path))[0].resize((THUMB, THUMB)), (0, 0))
    draw = ImageDraw.Draw(tile)
    draw.rectangle((0, 0, THUMB - 1, THUMB - 1), outline=border, width=4)
    for k, line in enumerate(textwrap.wrap(caption, THUMB // 6)[:2]):
        draw.text((3, THUMB + 2 + 13 * k), line, fill="black", font=ImageFont.load_default())
    return tile


def draw_contact_sheet(result: SearchResult, out: Path, loader) -> Path:
    """The reference (blue), the hits with their cosine (green: the target, red: not it, grey: unknown), and the
    target after them when it is not among the hits; the text and its parse above."""
    tiles = [_thumb(result.image, loader, "royalblue", "reference")]
    colour = (lambda name: "grey") if result.target is None else (lambda name: "green" if name == result.target
                                                                 else "red")
    tiles += [_thumb(hit.path, loader, colour(hit.name), f"{i + 1}. {hit.score:.4f} {hit.name}")
              for i, hit in enumerate(result.hits)]
    if result.target_rank is not None and result.target_rank >= len(result.hits):
        path = result.database.images[result.database.names.index(result.target)]
        tiles.append(_thumb(path, loader, "green", f"target: rank {result.target_rank + 1}"))
    header = 40
    sheet = Image.new("RGB", (THUMB * len(tiles), header + THUMB + CAPTION), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    draw.text((4, 4), f"{result.text}", fill="black", font=font)
    draw.text((4, 20), f"add {result.add or '-'}   remove {result.remove or '-'}", fill="black", font=font)
    for i, tile in enumerate(tiles):
        sheet.paste(tile, (i * THUMB, header))
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.app.search", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", default=str(REPO), help="the packaged repo (default: %(default)s)")
    parser.add_argument("--database", default=str(DEFAULT_DATABASE),
                        help="an image folder, or a challenge folder or its data.csv (default: %(default)s)")
    parser.add_argument("--image", help="the reference image (a path, or a name under the database's images)")
    parser.add_argument("--text", help="the modification text")
    parser.add_argument("--row", type=int, help="take image and text from this row of the database's data.csv")
    parser.add_argument("-k", type=int, default=5, help="how many images to show (default: %(default)s)")
    parser.add_argument("--png", type=Path, help="also write a contact sheet here")
    args = parser.parse_args(argv)
    try:
        if args.k < 1:
            raise SearchError(f"-k {args.k}: show at least one image")
        database = Database.open(args.database)
        if args.row is not None:
            if database.queries is None or not 0 <= args.row < len(database.queries):
                rows = 0 if database.queries is None else len(database.queries)
                raise SearchError(f"--row {args.row}: the database {args.database} has {rows} challenge rows")
            image, text = database.queries.iloc[args.row][["query_image", "query_text"]]
        elif args.image is None or args.text is None:
            raise SearchError("give --image and --text, or --row N of a challenge data.csv")
        else:
            image, text = args.image, args.text
        searcher = Searcher(args.repo)
        result = searcher.search(database, image, text, args.k)
    except SearchError as error:
        print(f"search: {error}", file=sys.stderr)
        return 2
    print(format_result(result))
    if args.png:
        print(f"contact sheet: {draw_contact_sheet(result, args.png, searcher.images.load_rgb)}")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="search: %(message)s")
    sys.exit(main())
