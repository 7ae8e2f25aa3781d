"""DVC stage `data`: renders the synthetic train/val/test splits into data/synth."""
import shutil

from pipeline.dataset import SYNTHETIC_ROOT
from pipeline.params import load_params
from pipeline.synth import SPLITS, SynthConfig, write_split


def main() -> None:
    config = SynthConfig.from_params(load_params()["data"])
    shutil.rmtree(SYNTHETIC_ROOT, ignore_errors=True)
    for split in SPLITS:
        write_split(SYNTHETIC_ROOT / split, split, config)


if __name__ == "__main__":
    main()
