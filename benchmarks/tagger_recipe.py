"""Chooses the query tagger's recipe on development material only (never the sealed held-out wording or names).

Each variant is the params' `tagger` recipe with some fields replaced; a tagger is trained for it and scored as it
ships (WordNet's names known, `names.wordnet`) on every development wording, and on the development names in the
rigid and the free development wording: the name-alone exact rate with a template-bootstrap 95 % interval.
Appends to metrics/tagger_recipe.json. The variant `shipped` trains nothing: it scores the tagger in pretrained/
(what `dvc repro -s train_tagger` made of the params' recipe, fp16) on the same development material only, so a
recipe can be judged from the stage's own tagger before anything reads the held-out sets.

    python -m benchmarks.tagger_recipe --variant base --variant "steps=4500" \
        --variant "corpus+=pipeline/assets/phrasings/training/blind_c.yaml;steps=4500"
    python -m benchmarks.tagger_recipe --variant shipped
"""
import argparse
import json
import time
from dataclasses import fields, replace
from pathlib import Path

import torch
import yaml

from pipeline.config.names import NamesConfig
from pipeline.config.section import load_section
from pipeline.config.tagger import TaggerConfig, TaggerDevelopment
from pipeline.data.lexicon import known_wordnet, nouns
from pipeline.measurement.benchmark_outputs import TAGGER_RECIPE_METRICS
from pipeline.measurement.seal import name_list
from pipeline.measurement.tagger_evaluation import name_scores
from pipeline.pretrained import TAGGER, TAGGER_DIR, load_checkpoint
from pipeline.training.tagging import dev_phrases, scored_phrases, train_tagger
from submission_src.tagger import QueryTagger


def variant_config(base: TaggerConfig, spec: str) -> TaggerConfig:
    """`base` with `field=value` pairs (separated by ';') replaced; a tuple field takes a comma-separated list,
    and `field+=value` appends to it."""
    if spec == "base":
        return base
    kinds = {f.name: getattr(base, f.name) for f in fields(base)}
    changes = {}
    for item in spec.split(";"):
        key, value = item.split("=", 1)
        key, append = key.removesuffix("+"), key.endswith("+")
        if key not in kinds:
            raise SystemExit(f"unknown recipe field {key!r}; known: {', '.join(kinds)}")
        if append and not isinstance(kinds[key], tuple):
            raise SystemExit(f"{key}+= appends to a list field; {key} is not one")
        changes[key] = ((kinds[key] if append else ()) + tuple(value.split(","))
                        if isinstance(kinds[key], tuple) else type(kinds[key])(yaml.safe_load(value)))
    return replace(base, **changes)


def development_scores(tagger, development: TaggerDevelopment, seed: int) -> dict:
    """Name-alone exact rate and interval per development wording, and on the development names."""
    scores = {name: scored_phrases(tagger, phrases)[0] for name, phrases in dev_phrases(development, seed).items()}
    names = name_scores(tagger, name_list(development.names), Path(development.names_wording), seed)
    scores |= {f"names {wording} {kind}": s for wording, kinds in names.items() for kind, s in kinds.items()}
    return {name: {"exact_strict": s["exact_strict"], "ci": s["exact_strict_ci"], "exact": s["exact"]}
            for name, s in scores.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", action="append", required=True, help="'base' or 'field=value;field+=value'")
    args = parser.parse_args()
    torch.set_num_threads(2)
    base = load_section(TaggerConfig)
    development = load_section(TaggerDevelopment)
    wordnet = nouns(load_section(NamesConfig).wordnet)
    results = json.loads(TAGGER_RECIPE_METRICS.read_text()) if TAGGER_RECIPE_METRICS.exists() else []
    for spec in args.variant:
        config = variant_config(base, "base" if spec == "shipped" else spec)
        started = time.time()
        if spec == "shipped":
            tagger = QueryTagger.from_saved(load_checkpoint(TAGGER))
            recipe = json.loads((TAGGER_DIR / "recipe.json").read_text())["tagger"]
            spec = f"shipped: {len(recipe['corpus'])} corpus files, {recipe['steps']} steps, hidden {recipe['hidden']}"
        else:
            tagger, _ = train_tagger(config, {}, log_every=config.steps + 1)
        seconds = time.time() - started
        tagger.know(known_wordnet(wordnet, tagger.determiners))  # as it ships
        row = {"variant": spec, "train_seconds": seconds, **development_scores(tagger, development, config.seed)}
        results.append(row)
        print(json.dumps(row))
        TAGGER_RECIPE_METRICS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
