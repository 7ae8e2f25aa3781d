"""DVC stage `dataset`: validates the chosen data source and writes data/dataset.json for later stages."""
import json
import sys

from pipeline.data.dataset import DatasetError, prepare_manifest
from pipeline.params import load_params
from pipeline.paths import MANIFEST


def main() -> None:
    source = load_params()["data"]["source"]
    try:
        manifest = prepare_manifest(source)
    except DatasetError as err:
        sys.exit(f"data source rejected: {err}")
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
    for name, split in manifest["splits"].items():
        print(f"{name}: {split['rows']} queries from {split['csv']}")


if __name__ == "__main__":
    main()
