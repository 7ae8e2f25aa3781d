"""A Hugging Face Space for the app (`pipeline/app/ui.py`), written beside the judge's repo, never inside it (the
judge's repo stays what the judge runs): app.py, the few pipeline modules the app imports, requirements, a README
whose front matter is the Space's metadata, and a small challenge-format database of example queries."""
from __future__ import annotations

import shutil
from importlib import metadata
from pathlib import Path

import pandas as pd

from pipeline.data.dataset import DISTRACTORS_CSV, SplitSource

ROOT = Path(__file__).resolve().parents[2]
# The app's imports from this project, with their packages, nothing else (tested in a bare process).
SPACE_CODE = ("pipeline/__init__.py", "pipeline/paths.py", "pipeline/parse_errors.py", "pipeline/data/__init__.py",
              "pipeline/data/dataset.py",
              "pipeline/shipping/__init__.py", "pipeline/shipping/judge_repo.py", "pipeline/app/__init__.py",
              "pipeline/app/search.py", "pipeline/app/ui.py")
SPACE_PACKAGES = ("gradio", "pyarrow", "huggingface-hub")  # beyond the judge's requirements
PYTHON = "3.11"
EXAMPLE_QUERIES = 24

LAUNCHER = '''"""The Space's entry point: the app over the model in CIR_MODEL (a folder, by default the judge's repo
beside this Space, or a Hugging Face model repo id, downloaded once) and the example database in examples/."""
import os
from pathlib import Path

from pipeline.app.ui import allowed_paths, build_app
from pipeline.data.dataset import SplitSource

HERE = Path(__file__).resolve().parent
EXAMPLES = SplitSource(str(HERE / "examples" / "data.csv"), str(HERE / "examples" / "images"),
                       distractors=str(HERE / "examples" / "distractors.csv"))


def model_folder() -> Path:
    named = os.environ.get("CIR_MODEL", str(HERE.parent / "hf_repo"))
    if Path(named).is_dir():
        return Path(named)
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(named))


if __name__ == "__main__":
    splits = {"examples": EXAMPLES}
    build_app(model_folder(), splits, HERE / "eval").launch(allowed_paths=allowed_paths(splits))
'''


def _card(method: str) -> str:
    return f"""---
title: Composed image retrieval
emoji: 🔎
colorFrom: blue
colorTo: green
sdk: gradio
sdk_version: {metadata.version("gradio")}
python_version: "{PYTHON}"
app_file: app.py
pinned: false
---
# Composed image retrieval: reference image + modification text → the matching image

Pick one of the example references (or upload your own), type what to add or remove, and see the query tagger's
parse and the five closest images of the example database, with their cosine scores. The model (`{method}`) runs
through its own `generate_embeds.py`, exactly as the challenge's judge runs it.

The model is read from `CIR_MODEL`: a folder (by default `../hf_repo`, the judge's repo this Space was written
beside) or a Hugging Face model repo id (the repo `make publish` uploads). Locally: `pip install -r
requirements.txt && python app.py`.
"""


def _examples(out: Path, split: SplitSource, queries: int) -> None:
    """The split's first `queries` rows, their images, and as many of its distractors as targets."""
    rows = split.load().head(queries)
    targets = list(pd.unique(rows.target_image))
    distractors = split.distractor_images()[: len(targets)]
    (out / "images").mkdir(parents=True)
    for name in set(rows.query_image) | set(targets) | set(distractors):
        shutil.copy2(Path(split.images) / name, out / "images" / name)
    rows.to_csv(out / "data.csv", index=False)
    pd.DataFrame({"image": distractors}).to_csv(out / DISTRACTORS_CSV, index=False)


def write_space(out: Path, repo: Path, split: SplitSource, method: str, queries: int = EXAMPLE_QUERIES) -> Path:
    """Writes the Space to `out` (replacing it), with example queries of `split`; `repo` is the judge's repo."""
    out, repo = out.resolve(), repo.resolve()
    if out == repo or repo in out.parents or out in repo.parents:
        raise ValueError(f"the Space {out} must lie beside the judge's repo {repo}, not inside it or around it")
    shutil.rmtree(out, ignore_errors=True)
    for name in SPACE_CODE:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, out / name)
    (out / "app.py").write_text(LAUNCHER)
    pins = [f"{name}=={metadata.version(name)}" for name in SPACE_PACKAGES]
    (out / "requirements.txt").write_text((repo / "requirements.txt").read_text() + "\n".join(pins) + "\n")
    (out / "README.md").write_text(_card(method))
    _examples(out / "examples", split, queries)
    return out
