"""DVC stage `train_parser`: the query tagger, on texts drawn from the training wording files only; scored on
unseen templates of those files (val) and on the development wordings of other writers (dev, dev2)."""
import json

import torch

from pipeline.console import show_logs
from pipeline.curves import TrainingCurve
from pipeline.params import load_params
from pipeline.paths import TAGGER, TAGGER_DIR
from pipeline.tagging import TaggerConfig, dev_phrases, train_tagger, validation_phrases

VALIDATION_TEXTS = 1000


def main() -> None:
    show_logs()
    config = TaggerConfig.from_params(load_params()["parser"])
    checks = {"val": validation_phrases(config, VALIDATION_TEXTS), **dev_phrases(config)}
    with TrainingCurve("parser", step_key="step") as curve:
        tagger, history = train_tagger(config, checks, on_check=curve)
    TAGGER_DIR.mkdir(parents=True, exist_ok=True)
    torch.save(tagger.saved(), TAGGER)
    (TAGGER_DIR / "training.json").write_text(json.dumps(history[-1], indent=2) + "\n")


if __name__ == "__main__":
    main()
