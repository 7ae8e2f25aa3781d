"""Training curves through dvclive, DVC's own logger: one folder per trained model under dvclive/, a row per epoch
or evaluation, so `dvc plots show` draws them while training runs and `dvc exp show` lists their last values."""
from __future__ import annotations

from numbers import Number
from pathlib import Path

from dvclive import Live

LIVE = Path("dvclive")  # one folder per trained model


def live(stage: str) -> Path:
    return LIVE / stage


class TrainingCurve:
    """Logs history rows (dicts of numbers) as they are made; `step_key` names the row's own step, if any."""

    def __init__(self, name: str, step_key: str | None = None):
        # dvc.yaml declares these folders itself, and `dvc exp run` (not dvclive) makes experiments.
        self.live = Live(dir=str(live(name)), dvcyaml=False, save_dvc_exp=False, report=None)
        self.step_key = step_key

    def __call__(self, row: dict) -> None:
        if self.step_key is not None:
            self.live.step = int(row[self.step_key])
        for key, value in row.items():
            if key != self.step_key and isinstance(value, Number) and not isinstance(value, bool):
                self.live.log_metric(key, value)
        self.live.next_step()

    def __enter__(self) -> "TrainingCurve":
        return self

    def __exit__(self, *exc) -> None:
        self.live.end()
