"""Uploads dist/hf_repo to the Hugging Face Hub; `--dry-run` lists what would go, offline. The model card gains the
rehearsal's line (metrics/rehearsal.json) when the rehearsal ran these very files.

Usage: python -m pipeline.shipping.publish --repo-id USER/NAME [--dry-run] [--private]
The token comes from the environment (HF_TOKEN), never from a file in this repo.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from pipeline.paths import REPO
from pipeline.shipping.rehearsal import REHEARSAL_METRICS, repo_fingerprint


def planned_files(folder: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(folder)), p.stat().st_size) for p in folder.rglob("*") if p.is_file())


def card_with_rehearsal(folder: Path, rehearsal: Path = REHEARSAL_METRICS) -> tuple[str, str]:
    """The model card to upload, and what it says of the rehearsal: its line is added only when the rehearsal
    record names the same files (every file but the card, by hash)."""
    card = (folder / "README.md").read_text()
    if not rehearsal.is_file():
        return card, "not rehearsed: run `make rehearse` to add the judge-environment line to the card"
    record = json.loads(rehearsal.read_text())
    if record.get("repo_sha256") != repo_fingerprint(folder) or record.get("problems"):
        return card, f"{rehearsal} is of other files or failed: run `make rehearse` again"
    return card.rstrip("\n") + f"\n\n{record['card_line']}\n", record["card_line"]


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
    card, rehearsal = card_with_rehearsal(args.folder)
    print(f"model card: {rehearsal}")
    if args.dry_run:
        return 0
    token = os.environ.get("HF_TOKEN")
    if not token:
        print("HF_TOKEN is not set: export a write token to publish", file=sys.stderr)
        return 2
    from huggingface_hub import CommitOperationAdd, HfApi

    api = HfApi(token=token)
    api.create_repo(args.repo_id, private=args.private, exist_ok=True)
    operations = [CommitOperationAdd(name, card.encode() if name == "README.md" else str(args.folder / name))
                  for name, _ in files]
    api.create_commit(args.repo_id, operations=operations, commit_message="Upload CIR submission")
    return 0


if __name__ == "__main__":
    sys.exit(main())
