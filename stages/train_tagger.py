"""DVC stage `train_tagger`: the query tagger, on texts drawn from the training wording files only; scored on
unseen templates of those files (val) and on the development wordings of other writers (dev, dev2). It reads no
data, so it is made once and shipped in pretrained/tagger; `dvc repro train_tagger` remakes it."""
from dataclasses import asdict

import torch

from pipeline.config.section import load_section
from pipeline.config.tagger import TaggerConfig, TaggerDevelopment
from pipeline.console import show_logs
from pipeline.pretrained import TAGGER, TAGGER_DIR, half_state, write_checkpoint
from pipeline.training.curves import TrainingCurve
from pipeline.training.tagging import dev_phrases, train_tagger, validation_phrases

VALIDATION_TEXTS = 1000


def main() -> None:
    show_logs()
    config = load_section(TaggerConfig)
    development = load_section(TaggerDevelopment)
    checks = {"val": validation_phrases(config, VALIDATION_TEXTS), **dev_phrases(development, config.seed)}
    with TrainingCurve("tagger", step_key="step") as curve:
        tagger, history = train_tagger(config, checks, on_check=curve)
    saved = tagger.saved()
    write_checkpoint(TAGGER_DIR, TAGGER.name, saved | {"state_dict": half_state(saved["state_dict"])},
                     {"tagger": asdict(config), "torch_threads": torch.get_num_threads()}, history[-1])


if __name__ == "__main__":
    main()
