"""params.yaml made into typed sections (pipeline/config/): every section builds; an unknown, missing or mistyped
key stops with the section and the key named; nothing outside config/ reads params.yaml raw."""
import copy
import re
from pathlib import Path

import pytest
import yaml

from pipeline.config.section import ParamsError, load_section
from pipeline.config.sections import check_params
from pipeline.config.settings import Settings
from pipeline.config.training import TailConfig

ROOT = Path(__file__).resolve().parents[1]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def test_every_section_of_params_yaml_builds_and_carries_its_values():
    check_params(PARAMS)
    settings = Settings.load(PARAMS)
    assert settings.tail.linked_batches is PARAMS["tail"]["linked_batches"]
    assert settings.tail.negative_memory == PARAMS["tail"]["negative_memory"]
    assert settings.data.scene_config("val").max_overlap == PARAMS["data"]["scene"]["max_overlap"]
    assert isinstance(settings.learning_curve.shares, tuple)


@pytest.mark.parametrize("change, said", [
    (lambda p: p["tail"].update(negative_memry=512), r"tail has no key negative_memry"),
    (lambda p: p["tail"].pop("negative_memory"), r"tail lacks negative_memory"),
    (lambda p: p["tail"].update(epochs="twelve"), r"tail\.epochs must be an integer"),
    (lambda p: p["tail"].update(linked_batches="yes"), r"tail\.linked_batches must be true or false"),
    (lambda p: p["data"]["scene"].update(max_objets=5), r"data\.scene has no key max_objets"),
    (lambda p: p.update(tial={"epochs": 1}), r"no section tial"),
    (lambda p: p["look_shift"].pop("seed"), r"look_shift lacks seed"),
    (lambda p: p["tagger"]["lexicon"].update(deep=2), r"tagger\.lexicon has no key deep"),
])
def test_a_wrong_key_is_named_with_its_section(change, said):
    params = copy.deepcopy(PARAMS)
    change(params)
    with pytest.raises(ParamsError, match=said):
        check_params(params)


def test_a_missing_section_is_named():
    params = {k: v for k, v in PARAMS.items() if k != "tail"}
    with pytest.raises(ParamsError, match="lacks the section tail"):
        load_section(TailConfig, params)


def test_only_config_reads_params_yaml():
    readers = [str(path.relative_to(ROOT)) for folder in ("pipeline", "stages", "benchmarks")
               for path in sorted((ROOT / folder).rglob("*.py"))
               if re.search(r"\bload_params\b", path.read_text()) and path.parent.name != "config"
               and path.name != "params.py"]
    assert readers == []
