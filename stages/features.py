"""DVC stage `features`: runs the frozen backbone once over every image and text into cache/<key>/."""
import json

from pipeline.dataset import load_manifest
from pipeline.features import CACHE_ROOT, FeatureSpec, data_fingerprint, extract, image_table, text_table
from pipeline.package import check_repo_fits
from pipeline.params import load_params, resolve_device
from pipeline.tagging import TaggerConfig
from submission_src.model import model_config


def main() -> None:
    params = load_params()
    spec = FeatureSpec.from_params(params)
    predicted = check_repo_fits(model_config(spec.model), TaggerConfig.from_params(params["parser"]),
                                params["adapter"]["hidden"], spec.model)
    print(f"features: the submission will be about {predicted / 1e9:.2f} GB")
    backbone = spec.load_backbone()
    backbone.check_tail(spec.tail_blocks)
    key = spec.key(backbone, data_fingerprint())
    splits = load_manifest()
    device = resolve_device(params["device"])
    store = extract(backbone, spec, image_table(splits), text_table(splits), CACHE_ROOT / key,
                    chunk=params["features"]["chunk"], workers=params["features"]["decode_workers"], device=device)
    (CACHE_ROOT / "current.json").write_text(json.dumps({"key": key, "store": str(store)}) + "\n")
    print(f"features: {store}")


if __name__ == "__main__":
    main()
