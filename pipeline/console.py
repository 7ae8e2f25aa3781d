"""What the stages show a person: library modules talk through `logging`; a stage routes it past its progress bars,
and an error the person can fix is said once, in one line, with a non-zero exit."""
from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path

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


def run_stage(main: Callable[[], None], fixable: tuple[type[Exception], ...]) -> None:
    """Runs a stage's `main`; an error of the `fixable` kinds (their messages name the fix) stops it with that
    message alone and exit status 1, instead of a traceback."""
    try:
        main()
    except fixable as error:
        sys.exit(f"stage {Path(sys.argv[0]).stem}: {error}")
