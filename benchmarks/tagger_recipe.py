"""Chooses the query tagger's recipe on the development wordings only (never the sealed held-out file).

Each variant is the params' `tagger` recipe with some fields replaced; a tagger is trained for it and scored on
every development file: the name-alone exact rate with a template-bootstrap 95 % interval, decoded with and
without determiner stripping (one training serves both). Appends to metrics/tagger_recipe.json.

    python -m benchmarks.tagger_recipe --variant base \
        --variant "corpus=pipeline/assets/phrasings/training/training_corpus.yaml,\
pipeline/assets/phrasings/training/repository.yaml"
"""
import argparse
import json
import time
from dataclasses import fields, replace

import torch
import yaml

from pipeline.config.section import load_section
from pipeline.config.tagger import TaggerConfig, TaggerDevelopment
from pipeline.measurement.benchmark_outputs import TAGGER_RECIPE_METRICS
from pipeline.training.tagging import dev_phrases, scored_phrases, train_tagger


def variant_config(base: TaggerConfig, spec: str) -> TaggerConfig:
    """`base` with `field=value` pairs (separated by ';') replaced; a tuple field takes a comma-separated list."""
    if spec == "base":
        return base
    kinds = {f.name: getattr(base, f.name) for f in fields(base)}
    changes = {}
    for item in spec.split(";"):
        key, value = item.split("=", 1)
        if key not in kinds:
            raise SystemExit(f"unknown recipe field {key!r}; known: {', '.join(kinds)}")
        changes[key] = tuple(value.split(",")) if isinstance(kinds[key], tuple) else type(kinds[key])(
            yaml.safe_load(value))
    return replace(base, **changes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", action="append", required=True, help="'base' or 'field=value;field=value'")
    args = parser.parse_args()
    torch.set_num_threads(2)
    base = load_section(TaggerConfig)
    dev = dev_phrases(load_section(TaggerDevelopment), base.seed)
    results = json.loads(TAGGER_RECIPE_METRICS.read_text()) if TAGGER_RECIPE_METRICS.exists() else []
    for spec in args.variant:
        config = replace(variant_config(base, spec), strip_determiners=True)
        started = time.time()
        tagger, _ = train_tagger(config, {}, log_every=config.steps + 1)
        seconds = time.time() - started
        determiners = tagger.determiners
        for strip in (True, False):
            tagger.determiners = determiners if strip else frozenset()
            scores = {name: scored_phrases(tagger, phrases)[0] for name, phrases in dev.items()}
            row = {"variant": spec, "strip_determiners": strip, "train_seconds": seconds,
                   **{name: {"exact_strict": s["exact_strict"], "ci": s["exact_strict_ci"], "exact": s["exact"]}
                      for name, s in scores.items()}}
            results.append(row)
            print(json.dumps(row))
        TAGGER_RECIPE_METRICS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
