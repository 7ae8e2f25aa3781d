"""DVC stage `verify`: dist/hf_repo run as the judge runs it on the test split, its every embedding row held
against the one `evaluate` computed for the same query or image with the method that shipped."""
import json
import sys
from pathlib import Path

import numpy as np

from pipeline.dataset import load_manifest
from pipeline.paths import EVAL_METRICS, PACKAGE_METRICS, REPO, SUBMISSION_METRICS, TEST_EMBEDDINGS
from pipeline.verify import check, min_row_cosine, run_like_the_judge


def main() -> None:
    test = load_manifest()["test"]
    frame = test.load()
    method = json.loads(PACKAGE_METRICS.read_text())["method"]
    expected = json.loads(EVAL_METRICS.read_text())["test"][method]["top1"]
    run = run_like_the_judge(REPO, frame, Path(test.images), test.distractor_images())
    with np.load(TEST_EMBEDDINGS) as pipeline:
        position = {name: i for i, name in enumerate(pipeline["database_images"])}
        database = pipeline[f"database_{method}"][[position[name] for name in test.database_images(frame)]]
        result = run.result | {"method": method, "evaluate_top1": expected,
                               "min_cosine_queries": min_row_cosine(run.queries, pipeline[f"queries_{method}"]),
                               "min_cosine_database": min_row_cosine(run.database, database)}
    result["min_cosine"] = min(result["min_cosine_queries"], result["min_cosine_database"])
    result["problems"] = check(result, expected)
    SUBMISSION_METRICS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if result["problems"]:
        sys.exit("verify failed: " + "; ".join(result["problems"]))


if __name__ == "__main__":
    main()
