"""DVC stage `package`: writes dist/hf_repo, the repo the judge runs, with the method `package.method` names (or,
with `auto`, the one with the best val Top-1), and records the choice in metrics/package.json."""
import json
from pathlib import Path

from pipeline.experiment import TAGGER_PATH
from pipeline.features import FeatureSpec
from pipeline.package import SHIPPABLE, Shipment, build_repo
from pipeline.params import load_params

OUT = Path("dist/hf_repo")


def main() -> None:
    params = load_params()
    spec = FeatureSpec.from_params(params)
    metrics = json.loads(Path("metrics/eval.json").read_text())
    bootstrap = json.loads(Path("metrics/bootstrap.json").read_text())
    shipment = Shipment.choose(params["package"]["method"], metrics["val"])
    repo = build_repo(OUT, spec, shipment, TAGGER_PATH, metrics, bootstrap)
    choice = {"method": shipment.method, "reason": shipment.reason,
              "val_top1": {m: metrics["val"][m]["top1"] for m in SHIPPABLE},
              "test_top1": {m: metrics["test"][m]["top1"] for m in SHIPPABLE}}
    Path("metrics/package.json").write_text(json.dumps(choice, indent=2) + "\n")
    size = sum(f.stat().st_size for f in repo.rglob("*") if f.is_file())
    print(f"package: {repo} ships {shipment.method} ({size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
