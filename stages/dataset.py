"""DVC stage `dataset`, repeated by every run: checks every params section, validates the chosen data source and
writes data/dataset.json for later stages; then the object names of the source's training split, harvested from
its rigid texts, and WordNet's names of `names.wordnet` (pipeline/data/names.py), which the tagger knows at the
judge, to data/names.json."""
import json
import sys

from pipeline.config.data import SynthConfig
from pipeline.config.names import NamesConfig
from pipeline.config.section import ParamsError, load_section
from pipeline.config.sections import check_params
from pipeline.console import run_stage
from pipeline.data.dataset import DatasetError, load_manifest, prepare_manifest
from pipeline.data.lexicon import LexiconMissingError
from pipeline.data.names import known_names
from pipeline.paths import MANIFEST, TEAM_NAMES


def main() -> None:
    try:
        check_params()
    except (ParamsError, ValueError) as err:
        sys.exit(str(err))
    try:
        manifest = prepare_manifest(load_section(SynthConfig).source)
    except DatasetError as err:
        sys.exit(f"data source rejected: {err}")
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
    for name, split in manifest["splits"].items():
        print(f"{name}: {split['rows']} queries from {split['csv']}")
    found = known_names(load_manifest()["train"].load().query_text.tolist(), load_section(NamesConfig).wordnet)
    TEAM_NAMES.write_text(json.dumps(found, indent=2) + "\n")
    print(f"names: {len(found['names'])} object names from {found['matched']} of the training split's "
          f"{found['texts']} texts (the others are not in the rigid wording); {len(found['wordnet'])} WordNet names")


if __name__ == "__main__":
    run_stage(main, (LexiconMissingError,))
