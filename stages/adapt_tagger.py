"""DVC stage `adapt_tagger`: the shipped tagger, trained `names.adapt_steps` more with the names harvested from the
source's training split among its objects, and knowing those and WordNet's names at decoding; written to
models/team_tagger.pt, which training, evaluation, the package and verify read (the shipped pretrained/tagger stays
as it is)."""
import torch

from pipeline.config.names import NamesConfig
from pipeline.config.section import load_section
from pipeline.config.tagger import TaggerConfig
from pipeline.console import run_stage, show_logs
from pipeline.data.names import team_names, with_known_names
from pipeline.paths import TEAM_TAGGER
from pipeline.pretrained import TAGGER, CheckpointError, half_state, load_checkpoint
from pipeline.training.tagging import adapt_tagger


def main() -> None:
    show_logs()
    config, names = load_section(NamesConfig), team_names()
    tagger = adapt_tagger(load_checkpoint(TAGGER), load_section(TaggerConfig), names, config.adapt_steps,
                          config.adapt_share, config.adapt_lr)
    saved = tagger.saved()
    TEAM_TAGGER.parent.mkdir(parents=True, exist_ok=True)
    torch.save(with_known_names(saved | {"state_dict": half_state(saved["state_dict"])}), TEAM_TAGGER)
    print(f"adapt_tagger: {config.adapt_steps} steps on {len(names)} names of the training split -> {TEAM_TAGGER}")


if __name__ == "__main__":
    run_stage(main, (CheckpointError,))
