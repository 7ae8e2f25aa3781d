"""The sections training and evaluation read, together (see pipeline/config/): what `Experiment` carries."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pipeline.config.augment import AugmentConfig
from pipeline.config.data import SynthConfig
from pipeline.config.runs import device_setting
from pipeline.config.section import load_section
from pipeline.config.tagger import TaggerConfig
from pipeline.config.training import AdapterConfig, LearningCurveConfig, TailConfig, TrainConfig
from pipeline.params import load_params


@dataclass(frozen=True)
class Settings:
    """The params sections training and evaluation read, typed."""
    data: SynthConfig
    adapter: AdapterConfig
    tail: TailConfig
    augment: AugmentConfig
    train: TrainConfig
    learning_curve: LearningCurveConfig
    wording: tuple[str, ...]  # tagger.corpus: the wording files training texts are varied with
    device: str  # as params.yaml says it: auto, cpu, cuda, cuda:N

    @classmethod
    def load(cls, params: Mapping | None = None) -> "Settings":
        """From `params` (default: params.yaml, read once)."""
        params = load_params() if params is None else params
        return cls(*(load_section(section, params) for section in (SynthConfig, AdapterConfig, TailConfig,
                                                                      AugmentConfig, TrainConfig, LearningCurveConfig)),
                   load_section(TaggerConfig, params).corpus, device_setting(params))
