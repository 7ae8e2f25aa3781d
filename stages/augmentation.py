"""DVC stage `augmentation`: what each part of the edit algebra buys (pipeline/measurement/augmentation_table.py).
Writes metrics/augmentation.json, a bar chart, the test queries that augmentation fixed and a picture of one
composed pair."""
import json

from pipeline.console import show_logs
from pipeline.measurement.augmentation_table import (
    augmentation_rows,
    draw_augmentation_bars,
    draw_augmentation_fixes,
    draw_composed_pair,
)
from pipeline.paths import (
    AUGMENTATION_FIXES_GALLERY,
    AUGMENTATION_METRICS,
    AUGMENTATION_PLOT,
    EDIT_ALGEBRA_PLOT,
    EVAL_METRICS,
)
from pipeline.training.experiment import Experiment


def main() -> None:
    show_logs()
    experiment = Experiment.load()
    rows, off_tail = augmentation_rows(experiment, json.loads(EVAL_METRICS.read_text()))
    AUGMENTATION_METRICS.write_text(json.dumps({"augment": experiment.params["augment"],
                                                "text_input": experiment.params["adapter"]["text_input"],
                                                "rows": rows}, indent=2) + "\n")
    draw_augmentation_bars(rows, AUGMENTATION_PLOT)
    draw_augmentation_fixes(experiment, off_tail, AUGMENTATION_FIXES_GALLERY)
    draw_composed_pair(experiment, EDIT_ALGEBRA_PLOT)


if __name__ == "__main__":
    main()
