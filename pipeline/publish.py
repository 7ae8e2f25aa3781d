"""Uploads dist/hf_repo to the Hugging Face Hub; `--dry-run` lists what would go, offline.

Usage: python -m pipeline.publish --repo-id USER/NAME [--dry-run] [--private]
The token comes from the environment (HF_TOKEN), never from a file in this repo.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pipeline.paths import REPO


def planned_files(folder: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(folder)), p.stat().st_size) for p in folder.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo-id", required=True)
    parser.add_argument("--folder", type=Path, default=REPO)
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--private", action="store_true")
    args = parser.parse_args(argv)
    if not (args.folder / "generate_embeds.py").is_file():
        print(f"{args.folder} holds no packaged repo: run `dvc repro package` first", file=sys.stderr)
        return 2
    files = planned_files(args.folder)
    for name, size in files:
        print(f"{size / 1e6:10.2f} MB  {name}")
    print(f"{len(files)} files, {sum(s for _, s in files) / 1e6:.1f} MB -> {args.repo_id}")
    if args.dry_run:
        return 0
    token = os.environ.get("HF_TOKEN")
    if not token:
        print("HF_TOKEN is not set: export a write token to publish", file=sys.stderr)
        return 2
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(args.repo_id, private=args.private, exist_ok=True)
    api.upload_folder(repo_id=args.repo_id, folder_path=str(args.folder), commit_message="Upload CIR submission")
    return 0


if __name__ == "__main__":
    sys.exit(main())
