"""The run's headline: a dozen numbers a person reads in a terminal (`dvc metrics show`, `dvc metrics diff`
between experiments), taken from the detailed JSONs the stages write; those stay outputs, not DVC metrics."""
from __future__ import annotations

MAX_NUMBERS = 16  # what one terminal line of `dvc metrics show` can hold
SHAPES = {"out_of_generator": "1+1", "test": "2+2"}  # the challenge's own edit shape on scenes by an outside
# renderer, and the hardest shape the test split asks for often


def headline(evaluation: dict, diagnosis: dict, package: dict, tagger: dict, submission: dict) -> dict:
    """The shipped method, its Top-1 on every split (and on one edit shape of some) and as the judge ran it, the
    paraphrase gap, the tagger on the held-out wording, verify's worst row agreement (with the same model built from
    the pipeline's parts, and with evaluate's rows from the feature cache), the package's size, the judge's
    whole-process seconds and where the judge's figures were measured."""
    method = package["method"]
    numbers = {"method": method}
    numbers |= {f"top1_{split}": scores[method]["top1"] for split, scores in evaluation.items()
                if isinstance(scores, dict) and isinstance(scores.get(method), dict)}
    for split, shape in SHAPES.items():
        by_shape = diagnosis.get(split, {}).get(method, {}).get("by_shape", {})
        if shape in by_shape:
            numbers[f"top1_{split}_{shape}"] = by_shape[shape]["top1"]
    if "paraphrase_gap" in evaluation:
        numbers["paraphrase_gap"] = evaluation["paraphrase_gap"][method]
    # The judge's clock is the whole process (start, imports, loading, encoding, similarity); where it ran says
    # which machine, device and Python the two judge figures belong to.
    numbers |= {"judge_top1": submission["top1"], "verify_min_cosine": submission["min_cosine"],
                "verify_min_cosine_vs_evaluate": submission["min_cosine_vs_evaluate"],
                "tagger_heldout_exact": tagger["heldout"]["exact"],
                "package_mb": round(submission["size_bytes"] / 1e6, 1),
                "judge_process_seconds": round(submission["process_seconds"], 1),
                "judge_measured_on": submission["measured_on"]}
    return numbers
