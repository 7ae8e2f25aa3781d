"""DVC stage `data`: renders the synthetic train/val/test splits into data/synth, the test split's plain twin, and
one training triplet drawn by every artist (plots/artists.png)."""
import shutil

from pipeline.config.data import SPLIT_ARTISTS, SynthConfig
from pipeline.config.section import load_section
from pipeline.console import run_stage, show_logs
from pipeline.data.artwork import ArtworkMissingError
from pipeline.data.dataset import PLAIN_TWIN, SPLITS
from pipeline.data.render import artist_sheet
from pipeline.data.synth import write_plain_twin, write_split
from pipeline.paths import ARTISTS_PLOT, PLOTS, SYNTHETIC_ROOT


def main() -> None:
    show_logs()
    config = load_section(SynthConfig)
    shutil.rmtree(SYNTHETIC_ROOT, ignore_errors=True)
    drawn = {split: write_split(SYNTHETIC_ROOT / split, split, config) for split in SPLITS}
    write_plain_twin(SYNTHETIC_ROOT / "test", SYNTHETIC_ROOT / PLAIN_TWIN)
    images, queries = drawn["train"]
    shown = next(q for q in queries if q["add"] and q["remove"])
    PLOTS.mkdir(exist_ok=True)
    artist_sheet(images[shown["query_image"]][1], images[shown["target_image"]][1], shown["query_text"],
                 SPLIT_ARTISTS, ARTISTS_PLOT)


if __name__ == "__main__":
    run_stage(main, (ArtworkMissingError,))
