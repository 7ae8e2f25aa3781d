"""DVC stage `headline`: metrics/headline.json, the one file `dvc metrics show` prints (a dozen numbers; the
detailed metrics/*.json are the stages' outputs, which docs/results.md describes)."""
import json

from pipeline.measurement.headline import headline
from pipeline.paths import (
    DIAGNOSIS_METRICS,
    EVAL_METRICS,
    HEADLINE_METRICS,
    PACKAGE_METRICS,
    SUBMISSION_METRICS,
    TAGGER_METRICS,
)


def main() -> None:
    numbers = headline(*(json.loads(path.read_text()) for path in (EVAL_METRICS, DIAGNOSIS_METRICS, PACKAGE_METRICS,
                                                                    TAGGER_METRICS, SUBMISSION_METRICS)))
    HEADLINE_METRICS.write_text(json.dumps(numbers, indent=2) + "\n")
    print(json.dumps(numbers, indent=2))


if __name__ == "__main__":
    main()
