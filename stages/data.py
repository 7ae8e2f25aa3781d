"""DVC stage `data`: renders the synthetic train/val/test splits into data/synth, the test split's plain twin, and
one training triplet drawn in every world (plots/worlds.png)."""
import shutil

from pipeline.console import run_stage, show_logs
from pipeline.data.artwork import ArtworkMissingError
from pipeline.data.dataset import PLAIN_TWIN, SPLITS
from pipeline.data.render import WORLDS, world_sheet
from pipeline.data.synth import SynthConfig, write_plain_twin, write_split
from pipeline.params import load_params
from pipeline.paths import PLOTS, SYNTHETIC_ROOT, WORLDS_PLOT


def main() -> None:
    show_logs()
    config = SynthConfig.from_params(load_params()["data"])
    shutil.rmtree(SYNTHETIC_ROOT, ignore_errors=True)
    drawn = {split: write_split(SYNTHETIC_ROOT / split, split, config) for split in SPLITS}
    write_plain_twin(SYNTHETIC_ROOT / "test", SYNTHETIC_ROOT / PLAIN_TWIN)
    images, queries = drawn["train"]
    shown = next(q for q in queries if q["add"] and q["remove"])
    PLOTS.mkdir(exist_ok=True)
    world_sheet(images[shown["query_image"]][1], images[shown["target_image"]][1], shown["query_text"], WORLDS,
                WORLDS_PLOT)


if __name__ == "__main__":
    run_stage(main, (ArtworkMissingError,))
