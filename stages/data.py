"""DVC stage `data`: renders the synthetic train/val/test splits into data/synth, and the test split's plain twin."""
import shutil

from pipeline.console import show_logs
from pipeline.dataset import PLAIN_TWIN, SPLITS
from pipeline.params import load_params
from pipeline.paths import SYNTHETIC_ROOT
from pipeline.synth import SynthConfig, write_plain_twin, write_split


def main() -> None:
    show_logs()
    config = SynthConfig.from_params(load_params()["data"])
    shutil.rmtree(SYNTHETIC_ROOT, ignore_errors=True)
    for split in SPLITS:
        write_split(SYNTHETIC_ROOT / split, split, config)
    write_plain_twin(SYNTHETIC_ROOT / "test", SYNTHETIC_ROOT / PLAIN_TWIN)


if __name__ == "__main__":
    main()
