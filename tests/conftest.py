import os

import pytest

from pipeline.params import load_params
from pipeline.synth import SynthConfig, write_split


def pytest_collection_modifyitems(config, items):
    import torch

    for item in items:
        if "slow" in item.keywords and os.environ.get("RUN_SLOW") != "1":
            item.add_marker(pytest.mark.skip(reason="slow: set RUN_SLOW=1"))
        if "gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(pytest.mark.skip(reason="needs CUDA"))


@pytest.fixture(scope="session")
def default_synth_config() -> SynthConfig:
    return SynthConfig.from_params(load_params()["data"])


@pytest.fixture(scope="session")
def small_config() -> SynthConfig:
    return SynthConfig(seed=3, image_size=96, references={"train": 24, "val": 6, "test": 24},
                       edits_per_reference=(2, 3), held_out_pair_fraction=0.15, workers=2)


@pytest.fixture(scope="session")
def small_split(tmp_path_factory, small_config):
    """A rendered test split in the challenge format (small images, for speed)."""
    out = tmp_path_factory.mktemp("synth") / "test"
    write_split(out, "test", small_config)
    return out
