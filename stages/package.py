"""DVC stage `package`: writes dist/hf_repo, the repo the judge runs."""
import json
from pathlib import Path

from pipeline.package import build_repo
from pipeline.experiment import TAGGER_PATH
from pipeline.features import FeatureSpec
from pipeline.params import load_params

OUT = Path("dist/hf_repo")


def main() -> None:
    spec = FeatureSpec.from_params(load_params())
    metrics = json.loads(Path("metrics/eval.json").read_text())
    bootstrap = json.loads(Path("metrics/bootstrap.json").read_text())
    repo = build_repo(OUT, spec, Path("models/tail/adapter_tail.pt"), TAGGER_PATH, metrics, bootstrap)
    print(f"package: {repo} ({sum(f.stat().st_size for f in repo.iterdir()) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
