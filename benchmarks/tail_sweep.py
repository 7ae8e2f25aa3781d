"""Chooses the tail's size and schedule on val alone: for each K (visual units retrained) the train and val
features are extracted once, then adapter_tail is trained for each epoch count and scored on val. The test split
is never read. Prints one JSON line per run.

Usage: python -m benchmarks.tail_sweep --k 1 2 4 --epochs 3 6 10 [--lr 3e-4] [--out /tmp/tail_sweep]
"""
import argparse
import copy
import json
import time
from pathlib import Path

from pipeline.dataset import load_manifest
from pipeline.evaluation import top1
from pipeline.experiment import Experiment
from pipeline.feature_store import FeatureCache
from pipeline.features import FeatureSpec, extract, image_table, text_table
from pipeline.params import load_params
from pipeline.pretrained import TAGGER, load_checkpoint
from pipeline.training import build_query_set
from submission_src.tagger import QueryTagger


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--epochs", type=int, nargs="+", default=[3, 6, 10])
    parser.add_argument("--lr", type=float, default=None, help="default: params tail.lr")
    parser.add_argument("--out", type=Path, default=Path("/tmp/tail_sweep"))
    args = parser.parse_args()
    splits = {name: source for name, source in load_manifest().items() if name in ("train", "val")}
    tagger = QueryTagger.from_saved(load_checkpoint(TAGGER))
    for k in args.k:
        params = copy.deepcopy(load_params())
        params["features"]["tail_blocks"] = k
        spec = FeatureSpec.from_params(params)
        backbone = spec.load_backbone().eval()
        started = time.time()
        extract(backbone, spec, image_table(splits), text_table(splits), args.out / f"k{k}")
        cache = FeatureCache.open(args.out / f"k{k}")
        train, val = (build_query_set(cache, splits[s], tagger, backbone) for s in ("train", "val"))
        features_seconds = time.time() - started
        for epochs in args.epochs:
            params["tail"].update(epochs=epochs, lr=args.lr or params["tail"]["lr"])
            started = time.time()
            retriever, _ = Experiment(params, spec, backbone, cache, tagger).train_adapter_tail(train, desc=f"K={k}")
            print(json.dumps({"k": k, "epochs": epochs, "lr": params["tail"]["lr"],
                              "val_top1": round(top1(retriever, cache, val), 4),
                              "train_seconds": round(time.time() - started),
                              "features_seconds": round(features_seconds)}), flush=True)


if __name__ == "__main__":
    main()
