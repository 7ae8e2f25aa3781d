"""The query tagger measured: exact parses on the sealed held-out wording — one overall figure, no family and no
text of it published, so nothing can be chosen on it — beside the in-distribution figures (unseen templates of the
training wording; the plain wording), the development wordings that chose the recipe (every text with its parse,
to read their errors), and its CPU speed."""
import time
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from pipeline.config.tagger import TaggerConfig, TaggerDevelopment
from pipeline.data.lexicon import noun_lemmas
from pipeline.data.phrasing import PLAIN_WORDING, SEALED_WORDING, load_wording
from pipeline.measurement.seal import SEALED_NAMES, name_list
from pipeline.parse_errors import ERROR_CLASSES, error_classes
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
NAME_TEXTS = 1200  # texts per wording and kind of name
SPEED_BATCH = 256


def by_family(phrases, predicted) -> dict[str, dict]:
    gold = [gold_objects(p) for p in phrases]
    rows = pd.Series([p.family for p in phrases]).groupby([p.family for p in phrases]).indices
    return {family: score_parses([predicted[i] for i in index], [gold[i] for i in index])
            for family, index in rows.items()}


def parse_table(name: str, phrases, predicted) -> pd.DataFrame:
    """One row per text of wording `name`: its family, template, gold and predicted objects, and whether exact."""
    gold = [gold_objects(p) for p in phrases]
    return pd.DataFrame({
        "wording": name, "family": [p.family for p in phrases], "template": [p.template for p in phrases],
        "text": [p.text for p in phrases], "gold_add": [gold_parse(p).add for p in phrases],
        "gold_remove": [gold_parse(p).remove for p in phrases], "add": [q.add for q in predicted],
        "remove": [q.remove for q in predicted],
        "exact": [score_parses([q], [g])["exact"] == 1 for q, g in zip(predicted, gold)],
        "exact_strict": [score_parses([q], [g])["exact_strict"] == 1 for q, g in zip(predicted, gold)],
        "errors": [error_classes(gold_parse(p), q) for p, q in zip(phrases, predicted)]})


def error_counts(detail: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Development wording -> error class -> texts whose parse has it."""
    return {wording: {c: int(rows.errors.map(lambda e: c in e).sum()) for c in ERROR_CLASSES}
            for wording, rows in detail.groupby("wording")}


def unstripped_dev(tagger: QueryTagger, development: TaggerDevelopment, seed: int) -> dict[str, dict]:
    """The development figures decoded without stripping determiners from names: the recipe's other choice."""
    determiners, tagger.determiners = tagger.determiners, frozenset()
    scores = {name: scored_phrases(tagger, phrases)[0] for name, phrases in dev_phrases(development, seed).items()}
    tagger.determiners = determiners
    return scores


def ms_per_query(tagger: QueryTagger, texts: list[str]) -> float:
    tagger.parse(texts[:SPEED_BATCH])  # warm-up
    started = time.perf_counter()
    tagger.parse(texts, batch_size=SPEED_BATCH)
    return 1000 * (time.perf_counter() - started) / len(texts)


def wordings_plot(development: dict, heldout: float, path: Path) -> None:
    names = sorted(development, key=lambda f: development[f]["exact_strict"])
    fig = Figure(figsize=(7, 0.36 * len(names) + 1.4))
    ax = fig.subplots()
    ax.barh(names, [development[f]["exact"] for f in names], color="#c9d6ea", label="lenient: determiner allowed")
    ax.barh(names, [development[f]["exact_strict"] for f in names], color="#4c72b0", label="the name alone")
    ax.axvline(heldout, color="black", lw=1, ls="--", label=f"sealed held-out, name alone: {heldout:.3f}")
    ax.set_xlim(0, 1)
    ax.set_xlabel("exact parse (both object lists right)")
    ax.set_title("Query tagger per development wording (they choose), and the held-out figure")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def name_scores(tagger: QueryTagger, names: list[str], free_wording: Path, seed: int) -> dict[str, dict[str, dict]]:
    """The tagger on objects of `names` (each kind's exact figures), in the challenge's rigid wording and in
    `free_wording`, for names WordNet knows and names it does not."""
    known = noun_lemmas()
    kinds = {"in_wordnet": [n for n in names if n in known], "not_in_wordnet": [n for n in names if n not in known]}
    scores = {}
    for wording_name, path in (("rigid", PLAIN_WORDING), ("free", free_wording)):
        wording = load_wording(path)
        fills = max(1, NAME_TEXTS // sum(1 for _ in wording.templates()))
        scores[wording_name] = {kind: scored_phrases(tagger, template_phrases(
            wording, ObjectNames(chosen, open_share=1.0), fills, seed))[0] | {"names": len(chosen)}
            for kind, chosen in kinds.items()}
    return scores


def evaluate_tagger(tagger: QueryTagger, config: TaggerConfig, development: TaggerDevelopment
                    ) -> tuple[dict, pd.DataFrame]:
    """The tagger's figures, and one row per development text (its gold and predicted objects)."""
    heldout = template_phrases(load_wording(SEALED_WORDING), ObjectNames(), FILLS, seed=config.seed)
    overall, _ = scored_phrases(tagger, heldout)  # its parses never leave: no held-out text or error is kept
    scores, detail = {}, []
    for name, phrases in dev_phrases(development, config.seed).items():
        scores[name], parses = scored_phrases(tagger, phrases)
        detail.append(parse_table(name, phrases, parses))
    plain = template_phrases(load_wording(PLAIN_WORDING), ObjectNames(), FILLS * 10, seed=config.seed)
    unseen = validation_phrases(config, 2000)
    unseen_scores, unseen_parses = scored_phrases(tagger, unseen)
    detail = pd.concat(detail, ignore_index=True)
    metrics = {
        "heldout": overall,
        "sealed_names": name_scores(tagger, name_list(SEALED_NAMES), SEALED_WORDING, config.seed),
        "development_names": name_scores(tagger, name_list(development.names), Path(development.names_wording),
                                         config.seed),
        "in_distribution": {
            "training_wording_unseen_templates": unseen_scores,
            "training_wording_families": by_family(unseen, unseen_parses),
            "plain_wording": scored_phrases(tagger, plain)[0]},
        "development_wordings_used_to_choose_the_recipe": scores,
        "development_error_classes": error_counts(detail),
        "development_wordings_without_determiner_stripping": unstripped_dev(tagger, development, config.seed),
        "ms_per_query_cpu_2_threads": ms_per_query(tagger, [p.text for p in heldout]),
        "heldout_templates": len({p.template for p in heldout}), "texts_per_template": FILLS,
    }
    return metrics, detail
