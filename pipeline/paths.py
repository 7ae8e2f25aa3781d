"""Where every artifact of the pipeline lives, named once: stages, benchmarks and tests read these; `dvc.yaml`
lists the same paths as deps and outs (tests/test_dvc.py holds the two together). The checkpoints shipped in git
are named in pipeline/pretrained.py and the training curves in pipeline/training/curves.py, so that an
edit here never reruns the long stages that make them."""
from pathlib import Path

SYNTHETIC_ROOT = Path("data/synth")  # the rendered splits, one folder each
# the held-out splits of outside renderers (pipeline/data/outside_splits.py), one folder each
OUTSIDE_SPLIT_ROOTS = {split: Path("data") / split for split in ("out_of_generator", "look_shift")}
MANIFEST = Path("data/dataset.json")  # the chosen data source, validated and fingerprinted
TEAM_NAMES = Path("data/names.json")  # the object names of the source's training split, which the tagger learns
TEAM_TAGGER = Path("models/team_tagger.pt")  # the shipped tagger adapted to those names, knowing them (adapt_tagger)

FUSION_DIR = Path("models/fusion")
ADAPTER = FUSION_DIR / "adapter.pt"
COMBINER = FUSION_DIR / "combiner.pt"
TAIL_DIR = Path("models/tail")
ADAPTER_TAIL = TAIL_DIR / "adapter_tail.pt"

CACHE_ROOT = Path("cache")  # one keyed folder per backbone and dataset
CURRENT_CACHE = CACHE_ROOT / "current.json"  # which of them the params name

EVAL_DIR = Path("eval")
QUERY_TABLES = EVAL_DIR / "queries"  # one parquet per split: every query's parse and ranks
TEST_EMBEDDINGS = EVAL_DIR / "test_embeddings.npz"  # what verify holds the packaged model's rows against
TAGGER_DEV_TEXTS = EVAL_DIR / "tagger_dev.parquet"  # every development text with its parse

REPO = Path("dist/hf_repo")  # the repo the judge runs
SPACE = Path("dist/space")  # a Hugging Face Space (the app) beside the judge's repo, never inside it

METRICS = Path("metrics")
TAGGER_METRICS = METRICS / "tagger.json"
EVAL_METRICS = METRICS / "eval.json"
DIAGNOSIS_METRICS = METRICS / "diagnosis.json"  # by edit shape, by company, what each miss got wrong
LEARNING_CURVE_METRICS = METRICS / "learning_curve.json"
AUGMENTATION_METRICS = METRICS / "augmentation.json"
PACKAGE_METRICS = METRICS / "package.json"
SUBMISSION_METRICS = METRICS / "submission.json"
PREDICTED_SIZE = METRICS / "predicted_size.json"
HEADLINE_METRICS = METRICS / "headline.json"  # the only DVC metrics file: a dozen numbers from the others

PLOTS = Path("plots")
TAGGER_PLOT = PLOTS / "tagger_wordings.png"
LEARNING_CURVE_PLOT = PLOTS / "learning_curve.png"
GALLERIES = PLOTS / "galleries"  # evaluate's pictures: a gallery per split, and the queries the tail fixed
TAIL_FIXES_GALLERY = GALLERIES / "tail_fixes.png"
AUGMENTATION_PLOT = PLOTS / "augmentation.png"
AUGMENTATION_FIXES_GALLERY = PLOTS / "gallery_augmentation_fixes.png"
EDIT_ALGEBRA_PLOT = PLOTS / "edit_algebra.png"  # one composed training pair
ARTISTS_PLOT = PLOTS / "artists.png"  # one triplet drawn by every artist


def gallery_plot(split: str) -> Path:
    return GALLERIES / f"{split}.png"
