"""DVC stage `train_parser`: the query tagger, on texts drawn from the training wording files only; scored on
unseen templates of those files (val) and on the development wordings of other writers (dev, dev2)."""
import json
from pathlib import Path

import pandas as pd
import torch

from pipeline.params import load_params
from pipeline.tagging import TaggerConfig, dev_phrases, train_tagger, validation_phrases

OUT = Path("models/parser")
VALIDATION_TEXTS = 1000


def main() -> None:
    config = TaggerConfig.from_params(load_params()["parser"])
    checks = {"val": validation_phrases(config, VALIDATION_TEXTS), **dev_phrases(config)}
    tagger, history = train_tagger(config, checks)
    OUT.mkdir(parents=True, exist_ok=True)
    torch.save(tagger.saved(), OUT / "tagger.pt")
    (OUT / "training.json").write_text(json.dumps(history[-1], indent=2) + "\n")
    Path("plots").mkdir(exist_ok=True)
    pd.DataFrame(history).to_csv("plots/train_parser.csv", index=False)


if __name__ == "__main__":
    main()
