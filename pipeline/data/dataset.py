"""The challenge's data format, where each split's data lives, and a validator that rejects a broken challenge
folder before any work."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
from PIL import Image

from pipeline.paths import MANIFEST, OUTSIDE_SPLIT_ROOTS, SYNTHETIC_ROOT

SPLITS = ("train", "val", "test")
PLAIN_TWIN = "test_plain"  # the test split's queries in the training wording: the paraphrase gap's baseline
OUT_OF_GENERATOR = "out_of_generator"  # outside renderers' splits: scored beside val and test whatever the source,
LOOK_SHIFT = "look_shift"  # never trained on, never chosen on
CSV_COLUMNS = ["query_image", "query_text", "target_image"]  # the challenge's data.csv
DISTRACTORS_CSV = "distractors.csv"  # more database images of a split: scenes no query asks for
MAX_LISTED = 5  # bad rows/files named in an error message


class DatasetError(ValueError):
    pass


@dataclass(frozen=True)
class SplitSource:
    csv: str
    images: str
    holdout: str | None = None  # for a single-folder source: which hash bucket of query images this split takes
    distractors: str | None = None  # a CSV (column `image`) of more database images: scenes no query asks for

    def load(self) -> pd.DataFrame:
        frame = pd.read_csv(self.csv, dtype=str, keep_default_na=False)
        if self.holdout is not None:
            frame = frame[frame["query_image"].map(split_bucket) == self.holdout].reset_index(drop=True)
        return frame

    def distractor_images(self) -> list[str]:
        return pd.read_csv(self.distractors, dtype=str).image.tolist() if self.distractors else []

    def database_images(self, frame: pd.DataFrame | None = None) -> list[str]:
        """The split's retrieval database, as a judge would hold it: its unique targets, then its distractors."""
        frame = self.load() if frame is None else frame
        return list(pd.unique(frame.target_image)) + self.distractor_images()


def split_bucket(query_image: str, val_percent: int = 10, test_percent: int = 10) -> str:
    """Stable split of a single challenge folder: by reference image, so siblings stay together."""
    bucket = int(hashlib.sha1(query_image.encode()).hexdigest()[:8], 16) % 100
    return "test" if bucket < test_percent else "val" if bucket < test_percent + val_percent else "train"


def _list(items: list[str]) -> str:
    more = f" … and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else ""
    return ", ".join(items[:MAX_LISTED]) + more


def validate_folder(folder: Path, check_pixels: bool = True, image_dir: Path | None = None) -> pd.DataFrame:
    """Checks a challenge-format folder (data.csv + images/, or the images in `image_dir`) and returns its table;
    raises naming what is wrong."""
    folder = Path(folder)
    csv_path = folder / "data.csv"
    if not csv_path.is_file():
        raise DatasetError(f"{csv_path} does not exist")
    try:
        frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise DatasetError(f"{csv_path} is not a readable CSV: {err}") from err
    missing = [c for c in CSV_COLUMNS if c not in frame.columns]
    if missing:
        raise DatasetError(f"{csv_path} lacks column(s) {', '.join(missing)} (has: {', '.join(frame.columns)})")
    if frame.empty:
        raise DatasetError(f"{csv_path} has no rows")
    empty = frame[CSV_COLUMNS].apply(lambda col: col.str.strip() == "").any(axis=1)
    if empty.any():
        rows = [str(i + 2) for i in frame.index[empty]]  # +2: header line and 1-based numbering
        raise DatasetError(f"{csv_path} has empty cells on line(s) {_list(rows)}")
    image_dir = Path(image_dir) if image_dir is not None else folder / "images"
    names = set(frame["query_image"]) | set(frame["target_image"])
    if (folder / DISTRACTORS_CSV).is_file():
        distractors = pd.read_csv(folder / DISTRACTORS_CSV, dtype=str)
        if "image" not in distractors.columns:
            raise DatasetError(f"{folder / DISTRACTORS_CSV} lacks the column image")
        names |= set(distractors.image)
    names = sorted(names)
    missing_files = [n for n in names if not (image_dir / n).is_file()]
    if missing_files:
        raise DatasetError(f"{len(missing_files)} image(s) named in {csv_path} are missing from {image_dir}: "
                           f"{_list(missing_files)}")
    if check_pixels:
        unreadable = [n for n in names if not _readable(image_dir / n)]
        if unreadable:
            raise DatasetError(f"{len(unreadable)} image(s) in {image_dir} cannot be decoded: {_list(unreadable)}")
    return frame


def _readable(path: Path) -> bool:
    try:
        with Image.open(path) as im:
            im.verify()
        return True
    except Exception:  # PIL raises many types for broken files; any of them means unreadable
        return False


def resolve_source(source: str) -> dict[str, SplitSource]:
    """Split folders for `data.source`: 'synthetic', a folder with train/val/test sub-folders, or one folder."""
    root = SYNTHETIC_ROOT if source == "synthetic" else Path(source).expanduser()
    if not root.is_dir():
        raise DatasetError(f"data.source {source!r}: {root} is not a folder")
    def distractors(folder: Path) -> str | None:
        return str(folder / DISTRACTORS_CSV) if (folder / DISTRACTORS_CSV).is_file() else None

    if all((root / s / "data.csv").is_file() for s in SPLITS):
        splits = {s: SplitSource(str(root / s / "data.csv"), str(root / s / "images"),
                                 distractors=distractors(root / s)) for s in SPLITS}
        if (root / PLAIN_TWIN / "data.csv").is_file():  # the test queries in training wording, on the test images
            splits[PLAIN_TWIN] = SplitSource(str(root / PLAIN_TWIN / "data.csv"), splits["test"].images,
                                             distractors=splits["test"].distractors)
        return splits
    if (root / "data.csv").is_file():
        return {s: SplitSource(str(root / "data.csv"), str(root / "images"), holdout=s) for s in SPLITS}
    raise DatasetError(f"data.source {source!r}: expected {root}/data.csv or {root}/{{train,val,test}}/data.csv")


def held_out_splits() -> dict[str, SplitSource]:
    """The outside renderers' splits, where their stages have rendered them (pipeline/data/outside_splits.py)."""
    return {split: SplitSource(str(root / "data.csv"), str(root / "images"))
            for split, root in OUTSIDE_SPLIT_ROOTS.items() if (root / "data.csv").is_file()}


def prepare_manifest(source: str) -> dict:
    """Validates every split of the source, and the outside renderers' held-out splits, and describes each with a
    fingerprint of its contents."""
    splits = resolve_source(source) | held_out_splits()
    checked: dict[str, pd.DataFrame] = {}
    manifest = {"source": source, "splits": {}}
    for name, split in splits.items():
        folder = Path(split.csv).parent
        if folder not in checked:
            checked[folder] = validate_folder(folder, image_dir=Path(split.images))
        rows = split.load()
        if rows.empty:
            raise DatasetError(f"split {name} of {source!r} has no rows")
        manifest["splits"][name] = {**asdict(split), "rows": len(rows), "fingerprint": _fingerprint(split, rows)}
    return manifest


def _fingerprint(split: SplitSource, rows: pd.DataFrame) -> str:
    """The split's rows and the bytes of its images: a copy or a re-render with the same pixels keeps it, any
    changed row or pixel changes it."""
    digest = hashlib.sha1(pd.util.hash_pandas_object(rows, index=False).values.tobytes())
    for name in sorted(set(rows["query_image"]) | set(rows["target_image"]) | set(split.distractor_images())):
        with open(Path(split.images) / name, "rb") as f:
            digest.update(f"{name}:{hashlib.file_digest(f, 'sha1').hexdigest()}".encode())
    return digest.hexdigest()


def manifest_fingerprint(path: Path = MANIFEST) -> str:
    """One digest of every split's fingerprint: what the feature cache's key takes from the data."""
    splits = json.loads(Path(path).read_text())["splits"]
    fingerprints = json.dumps({n: s["fingerprint"] for n, s in splits.items()}, sort_keys=True)
    return hashlib.sha1(fingerprints.encode()).hexdigest()


def load_manifest(path: Path = MANIFEST) -> dict[str, SplitSource]:
    raw = json.loads(Path(path).read_text())
    return {name: SplitSource(s["csv"], s["images"], s["holdout"], s.get("distractors"))
            for name, s in raw["splits"].items()}
