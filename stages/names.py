"""DVC stage `names`: the object names of the data source's training split, harvested from its rigid texts, and
WordNet's names of `names.wordnet` (pipeline/data/names.py), for the tagger to know at the judge."""
import json

from pipeline.console import run_stage
from pipeline.data.dataset import load_manifest
from pipeline.data.lexicon import LexiconMissingError
from pipeline.data.names import known_names
from pipeline.params import load_params
from pipeline.paths import TEAM_NAMES


def main() -> None:
    found = known_names(load_manifest()["train"].load().query_text.tolist(), load_params()["names"]["wordnet"])
    TEAM_NAMES.write_text(json.dumps(found, indent=2) + "\n")
    print(f"names: {len(found['names'])} object names from {found['matched']} of the training split's "
          f"{found['texts']} texts (the others are not in the rigid wording); {len(found['wordnet'])} WordNet names")


if __name__ == "__main__":
    run_stage(main, (LexiconMissingError,))
