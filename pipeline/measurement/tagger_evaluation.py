"""The query tagger measured: exact parses on the sealed held-out wording family by family, beside the
in-distribution figures (unseen templates of the training wording; the plain wording), the development wordings
that chose the recipe, and its CPU speed."""
import time
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from pipeline.config.tagger import TaggerConfig
from pipeline.data.phrasing import PLAIN_WORDING, SEALED_WORDING, load_wording
from pipeline.training.tagging import (
    ObjectNames,
    dev_phrases,
    gold_objects,
    gold_parse,
    score_parses,
    scored_phrases,
    template_phrases,
    validation_phrases,
)
from submission_src.tagger import QueryTagger

FILLS = 8  # texts per held-out template, each with other catalog objects
SPEED_BATCH = 256


def by_family(phrases, predicted) -> dict[str, dict]:
    gold = [gold_objects(p) for p in phrases]
    rows = pd.Series([p.family for p in phrases]).groupby([p.family for p in phrases]).indices
    return {family: score_parses([predicted[i] for i in index], [gold[i] for i in index])
            for family, index in rows.items()}


def unstripped_dev(tagger: QueryTagger, config: TaggerConfig) -> dict[str, dict]:
    """The development figures decoded without stripping determiners from names: the recipe's other choice."""
    determiners, tagger.determiners = tagger.determiners, frozenset()
    scores = {name: scored_phrases(tagger, phrases)[0] for name, phrases in dev_phrases(config).items()}
    tagger.determiners = determiners
    return scores


def ms_per_query(tagger: QueryTagger, texts: list[str]) -> float:
    tagger.parse(texts[:SPEED_BATCH])  # warm-up
    started = time.perf_counter()
    tagger.parse(texts, batch_size=SPEED_BATCH)
    return 1000 * (time.perf_counter() - started) / len(texts)


def family_plot(families: dict, overall: float, path: Path) -> None:
    names = sorted(families, key=lambda f: families[f]["exact_strict"])
    fig = Figure(figsize=(7, 0.32 * len(names) + 1.2))
    ax = fig.subplots()
    ax.barh(names, [families[f]["exact"] for f in names], color="#c9d6ea", label="lenient: determiner allowed")
    ax.barh(names, [families[f]["exact_strict"] for f in names], color="#4c72b0", label="the name alone")
    ax.axvline(overall, color="black", lw=1, ls="--", label=f"all held-out, name alone: {overall:.3f}")
    ax.axvline(0.95, color="#c44e52", lw=1, label="target 0.95")
    ax.axvline(0.85, color="#c44e52", lw=1, ls=":", label="every family 0.85")
    ax.set_xlim(0, 1)
    ax.set_xlabel("exact parse (both object lists right)")
    ax.set_title("Query tagger on the sealed held-out wording, per family")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def evaluate_tagger(tagger: QueryTagger, config: TaggerConfig) -> tuple[dict, pd.DataFrame]:
    """The tagger's figures, and one row per held-out text (its gold and predicted objects)."""
    heldout = template_phrases(load_wording(SEALED_WORDING), ObjectNames(), FILLS, seed=config.seed)
    overall, predicted = scored_phrases(tagger, heldout)
    detail = pd.DataFrame({"family": [p.family for p in heldout], "template": [p.template for p in heldout],
                           "text": [p.text for p in heldout],
                           "gold_add": [gold_parse(p).add for p in heldout],
                           "gold_remove": [gold_parse(p).remove for p in heldout],
                           "add": [q.add for q in predicted], "remove": [q.remove for q in predicted]})
    gold = [gold_objects(p) for p in heldout]
    detail["exact"] = [score_parses([q], [g])["exact"] == 1 for q, g in zip(predicted, gold)]
    detail["exact_strict"] = [score_parses([q], [g])["exact_strict"] == 1 for q, g in zip(predicted, gold)]
    plain = template_phrases(load_wording(PLAIN_WORDING), ObjectNames(), FILLS * 10, seed=config.seed)
    unseen = validation_phrases(config, 2000)
    unseen_scores, unseen_parses = scored_phrases(tagger, unseen)
    metrics = {
        "heldout": overall,
        "heldout_families": by_family(heldout, predicted),
        "in_distribution": {
            "training_wording_unseen_templates": unseen_scores,
            "training_wording_families": by_family(unseen, unseen_parses),
            "plain_wording": scored_phrases(tagger, plain)[0]},
        "development_wordings_used_to_choose_the_recipe": {name: scored_phrases(tagger, phrases)[0]
                                                           for name, phrases in dev_phrases(config).items()},
        "development_wordings_without_determiner_stripping": unstripped_dev(tagger, config),
        "ms_per_query_cpu_2_threads": ms_per_query(tagger, detail.text.tolist()),
        "heldout_templates": int(detail.template.nunique()), "texts_per_template": FILLS,
    }
    return metrics, detail
