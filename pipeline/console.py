"""What the stages show a person: library modules talk through `logging`; a stage routes it past its progress bars."""
from __future__ import annotations

import logging

from tqdm import tqdm


class _AboveProgressBars(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        tqdm.write(self.format(record))


def show_logs(level: int = logging.INFO) -> None:
    """Log records of every module on the console, printed above any progress bar instead of through it."""
    handler = _AboveProgressBars()
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.getLogger("dvc").setLevel(logging.WARNING)  # dvclive opens the DVC repo, which logs its own set-up
