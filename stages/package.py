"""DVC stage `package`: writes dist/hf_repo, the repo the judge runs, with the method `package.method` names (or,
with `auto`, the one with the best val Top-1), and records the choice in metrics/package.json; beside it,
dist/space, a Hugging Face Space of the app over that repo."""
import json

from pipeline.app.space import write_space
from pipeline.config.features import FeatureSpec
from pipeline.config.runs import PackageConfig
from pipeline.config.section import load_section
from pipeline.console import run_stage
from pipeline.data.dataset import load_manifest
from pipeline.data.names import team_tagger
from pipeline.paths import EVAL_METRICS, PACKAGE_METRICS, REPO, SPACE
from pipeline.pretrained import BOOTSTRAP_METRICS, CheckpointError
from pipeline.shipping.package import SHIPPABLE, Shipment, build_repo


def main() -> None:
    spec = FeatureSpec.from_params()
    metrics = json.loads(EVAL_METRICS.read_text())
    bootstrap = json.loads(BOOTSTRAP_METRICS.read_text()) if spec.pretrained == "bootstrap" else {}
    shipment = Shipment.choose(load_section(PackageConfig).method, metrics["val"])
    repo = build_repo(REPO, spec, shipment, team_tagger(), metrics, bootstrap)
    choice = {"method": shipment.method, "reason": shipment.reason,
              "val_top1": {m: metrics["val"][m]["top1"] for m in SHIPPABLE},
              "test_top1": {m: metrics["test"][m]["top1"] for m in SHIPPABLE}}
    PACKAGE_METRICS.write_text(json.dumps(choice, indent=2) + "\n")
    size = sum(f.stat().st_size for f in repo.rglob("*") if f.is_file())
    print(f"package: {repo} ships {shipment.method} ({size / 1e6:.1f} MB)")
    print(f"package: the app's Space in {write_space(SPACE, repo, load_manifest()['test'], shipment.method)}")


if __name__ == "__main__":
    run_stage(main, (CheckpointError,))
