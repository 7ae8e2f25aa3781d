"""Configuration of where models run and what is shipped and checked: `device`, `package`, `verify`, and the
outside renderers' held-out splits, a section each, named as the split (see pipeline/config/)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from pipeline.config.section import ParamsError, load_section
from pipeline.params import load_params

VERIFY_ENVIRONMENTS = ("pipeline", "judge")


def device_setting(params: Mapping | None = None) -> str:
    """`device`: auto (CUDA when there is a GPU, else the CPU), cpu, cuda, cuda:N."""
    value = (load_params() if params is None else params).get("device")
    if not isinstance(value, str):
        raise ParamsError(f"params.yaml: device must be auto, cpu, cuda or cuda:N, not {value!r}")
    return value


@dataclass(frozen=True)
class PackageConfig:
    SECTION: ClassVar[str] = "package"
    method: str  # arithmetic, adapter, adapter_tail, or auto: the best on val (pipeline/shipping/package.py checks)


@dataclass(frozen=True)
class VerifyConfig:
    SECTION: ClassVar[str] = "verify"
    environment: str  # pipeline (this venv, sockets blocked) or judge (the Python 3.10 rehearsal)
    judge_python: str  # auto, or the judge's interpreter

    def __post_init__(self):
        if self.environment not in VERIFY_ENVIRONMENTS:
            raise ParamsError(f"params.yaml: verify.environment {self.environment!r}: one of "
                              f"{', '.join(VERIFY_ENVIRONMENTS)}")


@dataclass(frozen=True)
class OutsideSplitConfig:
    """An outside renderer's split (the section is the split's name: `load_split`)."""
    seed: int
    references: int  # reference scenes, two or three edits each


def load_split(split: str, params: Mapping | None = None) -> OutsideSplitConfig:
    return load_section(OutsideSplitConfig, params, split)
