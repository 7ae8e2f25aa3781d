"""Every section of params.yaml and its dataclass: `check_params` builds them all, so that a misspelt, unknown or
missing key anywhere stops a run, naming the section and the key, before any stage does work (the `dataset`
stage, which every run repeats, calls it first)."""
from __future__ import annotations

from collections.abc import Mapping

from pipeline.config.augment import AugmentConfig
from pipeline.config.backbone import BackboneConfig
from pipeline.config.bootstrap import BootstrapConfig
from pipeline.config.data import SynthConfig
from pipeline.config.features import FeaturesConfig, ViewsConfig
from pipeline.config.names import NamesConfig
from pipeline.config.runs import PackageConfig, VerifyConfig, device_setting, load_split
from pipeline.config.section import ParamsError, load_section
from pipeline.config.tagger import TaggerConfig, TaggerDevelopment
from pipeline.config.training import AdapterConfig, LearningCurveConfig, TailConfig, TrainConfig
from pipeline.params import load_params
from pipeline.paths import OUTSIDE_SPLIT_ROOTS

SECTIONS = (SynthConfig, TaggerConfig, TaggerDevelopment, NamesConfig, BackboneConfig, FeaturesConfig, ViewsConfig,
            TrainConfig, AugmentConfig, AdapterConfig, TailConfig, LearningCurveConfig, PackageConfig, VerifyConfig)
OTHERS = ("device", "bootstrap", *OUTSIDE_SPLIT_ROOTS)  # a scalar, a section with data's keys, the outside splits


def check_params(params: Mapping | None = None) -> None:
    params = load_params() if params is None else params
    known = {cls.SECTION for cls in SECTIONS} | set(OTHERS)
    if unknown := sorted(set(params) - known):
        raise ParamsError(f"params.yaml has no section {', '.join(unknown)} (its sections: {', '.join(sorted(known))})")
    for cls in SECTIONS:
        load_section(cls, params)
    for split in OUTSIDE_SPLIT_ROOTS:
        load_split(split, params)
    device_setting(params)
    BootstrapConfig.from_params(params)
