"""DVC stage `evaluate_tagger`: the query tagger on the sealed held-out wording (one overall figure) and on each
development wording (every text with its parse), beside the in-distribution figures, and its CPU speed
(pipeline/measurement/tagger_evaluation.py)."""
import json

import torch

from pipeline.config.names import NamesConfig
from pipeline.config.section import load_section
from pipeline.config.tagger import TaggerConfig, TaggerDevelopment
from pipeline.console import run_stage, show_logs
from pipeline.data.lexicon import LexiconMissingError, known_wordnet, nouns
from pipeline.measurement.tagger_evaluation import evaluate_tagger, wordings_plot
from pipeline.paths import EVAL_DIR, METRICS, PLOTS, TAGGER_DEV_TEXTS, TAGGER_METRICS, TAGGER_PLOT
from pipeline.pretrained import TAGGER, CheckpointError, load_checkpoint
from submission_src.tagger import QueryTagger


def main() -> None:
    show_logs()
    torch.set_num_threads(2)  # the CPU figure is quoted for 2 cores
    config = load_section(TaggerConfig)
    tagger = QueryTagger.from_saved(load_checkpoint(TAGGER))
    # as it ships; a team's own names come with its data
    tagger.know(known_wordnet(nouns(load_section(NamesConfig).wordnet), tagger.determiners))
    metrics, detail = evaluate_tagger(tagger, config, load_section(TaggerDevelopment))
    EVAL_DIR.mkdir(exist_ok=True)
    detail.to_parquet(TAGGER_DEV_TEXTS, index=False)
    PLOTS.mkdir(exist_ok=True)
    overall, development = metrics["heldout"], metrics["development_wordings_used_to_choose_the_recipe"]
    wordings_plot(development, overall["exact_strict"], TAGGER_PLOT)
    METRICS.mkdir(exist_ok=True)
    TAGGER_METRICS.write_text(json.dumps(metrics, indent=2) + "\n")
    low, high = overall["exact_strict_ci"]
    print(f"held-out exact, name alone {overall['exact_strict']:.3f} [{low:.3f}, {high:.3f}] (lenient "
          f"{overall['exact']:.3f}), F1 {overall['f1']:.3f}; in-distribution, name alone "
          f"{metrics['in_distribution']['training_wording_unseen_templates']['exact_strict']:.3f}; "
          f"{metrics['ms_per_query_cpu_2_threads']:.2f} ms/query")
    for name, score in development.items():
        print(f"  dev {name:20s} {score['exact_strict']:.3f} [{score['exact_strict_ci'][0]:.3f}, "
              f"{score['exact_strict_ci'][1]:.3f}]")


if __name__ == "__main__":
    run_stage(main, (CheckpointError, LexiconMissingError))
