"""DVC stage `outside_splits`: each held-out split drawn by a renderer written outside this repository
(pipeline/data/outside_splits.py), rendered into data/<split> with the params section named as the split."""
from pipeline.config.runs import load_split
from pipeline.console import run_stage, show_logs
from pipeline.data.artwork import ArtworkMissingError
from pipeline.data.outside_splits import RENDERERS, render_split
from pipeline.paths import OUTSIDE_SPLIT_ROOTS


def main() -> None:
    show_logs()
    for split in RENDERERS:
        config = load_split(split)
        render_split(split, OUTSIDE_SPLIT_ROOTS[split], config.seed, config.references)


if __name__ == "__main__":
    run_stage(main, (ArtworkMissingError,))
