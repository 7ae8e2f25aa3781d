"""DVC stage `verify`: dist/hf_repo run as the judge runs it on the synthetic test split."""
import json
import sys
from pathlib import Path

from pipeline.dataset import load_manifest
from pipeline.verify import check, run_like_the_judge


def main() -> None:
    test = load_manifest()["test"]
    expected = json.loads(Path("metrics/eval.json").read_text())["test"]["adapter_tail"]["top1"]
    result = run_like_the_judge(Path("dist/hf_repo"), test.load(), Path(test.images))
    result["evaluate_top1"] = expected
    result["problems"] = check(result, expected)
    Path("metrics/submission.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if result["problems"]:
        sys.exit("verify failed: " + "; ".join(result["problems"]))


if __name__ == "__main__":
    main()
