"""DVC stage `out_of_generator`: the held-out split of scenes by a renderer written outside this repository
(pipeline/data/out_of_generator.py), rendered into data/out_of_generator."""
from pipeline.console import run_stage, show_logs
from pipeline.data.artwork import ArtworkMissingError
from pipeline.data.out_of_generator import render_split
from pipeline.params import load_params
from pipeline.paths import OUT_OF_GENERATOR_ROOT


def main() -> None:
    show_logs()
    params = load_params()["out_of_generator"]
    render_split(OUT_OF_GENERATOR_ROOT, params["seed"], params["references"])


if __name__ == "__main__":
    run_stage(main, (ArtworkMissingError,))
