"""DVC stage `verify`: dist/hf_repo run as the judge runs it on the test split, its every embedding row held
against the one `evaluate` computed for the same query or image with the method that shipped. `verify.environment`
says where: `pipeline` (this environment, the network cut in the process) or `judge` (the rehearsal: a clean
Python 3.10 venv of the shipped requirements only, no network)."""
import json
import sys

from pipeline.config.runs import VerifyConfig
from pipeline.config.section import load_section
from pipeline.console import run_stage
from pipeline.paths import SUBMISSION_METRICS
from pipeline.pretrained import CheckpointError
from pipeline.shipping.rehearsal import rehearse
from pipeline.shipping.verify import verify_test_split


def main() -> None:
    config = load_section(VerifyConfig)
    result = rehearse(config.judge_python) if config.environment == "judge" else verify_test_split()
    SUBMISSION_METRICS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if result["problems"]:
        sys.exit("verify failed: " + "; ".join(result["problems"]))


if __name__ == "__main__":
    run_stage(main, (CheckpointError,))
