"""DVC stage `size_check`: the submission's size predicted from configs alone, before any feature is computed; a
backbone too large for the judge's 4 GB stops here. `features` waits for it."""
import json

from pipeline.config.features import FeatureSpec
from pipeline.config.section import load_section
from pipeline.config.tagger import TaggerConfig
from pipeline.config.training import AdapterConfig
from pipeline.paths import METRICS, PREDICTED_SIZE
from pipeline.shipping.package import SIZE_LIMIT, check_repo_fits
from submission_src.backbone import model_config


def main() -> None:
    spec = FeatureSpec.from_params()
    predicted = check_repo_fits(model_config(spec.model), load_section(TaggerConfig),
                                load_section(AdapterConfig).hidden, spec.model)
    # In GB to the megabyte: an edit to the shipped code's comments leaves the file, so `features`, as it is.
    METRICS.mkdir(exist_ok=True)
    PREDICTED_SIZE.write_text(json.dumps({"backbone": spec.model, "predicted_gb": round(predicted / 1e9, 3),
                                          "limit_gb": SIZE_LIMIT / 1e9}, indent=2) + "\n")
    print(f"size_check: the submission will be about {predicted / 1e9:.3f} GB")


if __name__ == "__main__":
    main()
