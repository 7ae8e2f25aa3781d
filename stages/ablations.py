"""DVC stage `ablations` (`make ablations`): what each part of the edit algebra buys
(pipeline/measurement/augmentation_table.py: metrics/augmentation.json, a bar chart, the test queries augmentation
fixed, one composed pair), then what training buys by how much of it there is
(pipeline/measurement/learning_curve.py: metrics/learning_curve.json and its plot)."""
import json
from dataclasses import asdict

from pipeline.console import show_logs
from pipeline.measurement.augmentation_table import (
    augmentation_rows,
    draw_augmentation_bars,
    draw_augmentation_fixes,
    draw_composed_pair,
)
from pipeline.measurement.learning_curve import draw_learning_curve, learning_curve
from pipeline.paths import (
    AUGMENTATION_FIXES_GALLERY,
    AUGMENTATION_METRICS,
    AUGMENTATION_PLOT,
    EDIT_ALGEBRA_PLOT,
    EVAL_METRICS,
    LEARNING_CURVE_METRICS,
    LEARNING_CURVE_PLOT,
)
from pipeline.training.experiment import Experiment


def main() -> None:
    show_logs()
    experiment = Experiment.load()
    evaluated = json.loads(EVAL_METRICS.read_text())
    rows, off_tail = augmentation_rows(experiment, evaluated)
    AUGMENTATION_METRICS.write_text(json.dumps({"augment": asdict(experiment.settings.augment),
                                                "text_input": experiment.settings.adapter.text_input,
                                                "rows": rows}, indent=2) + "\n")
    draw_augmentation_bars(rows, AUGMENTATION_PLOT)
    draw_augmentation_fixes(experiment, off_tail, AUGMENTATION_FIXES_GALLERY)
    draw_composed_pair(experiment, EDIT_ALGEBRA_PLOT)
    curve = learning_curve(experiment, evaluated, rows)
    LEARNING_CURVE_METRICS.write_text(json.dumps(curve, indent=2) + "\n")
    draw_learning_curve(curve, LEARNING_CURVE_PLOT)


if __name__ == "__main__":
    main()
