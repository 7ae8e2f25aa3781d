"""Training curves go through dvclive: one folder per model, a row per history row at the row's own step."""
import logging

import pandas as pd

from pipeline.console import show_logs
from pipeline.training.curves import TrainingCurve, live


def test_history_rows_become_dvclive_curves(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with TrainingCurve("adapter", step_key="epoch") as curve:
        for epoch, loss in ((1, 2.0), (2, 1.5), (3, 1.25)):
            curve({"method": "adapter", "epoch": epoch, "loss": loss, "seconds": 0.1 * epoch})
    loss = pd.read_csv(live("adapter") / "plots" / "metrics" / "loss.tsv", sep="\t")
    assert loss.to_dict("list") == {"step": [1, 2, 3], "loss": [2.0, 1.5, 1.25]}
    assert not (live("adapter") / "plots" / "metrics" / "method.tsv").exists()  # only numbers are curves
    assert '"loss": 1.25' in (live("adapter") / "metrics.json").read_text()
    assert not (tmp_path / "dvc.yaml").exists()  # dvc.yaml declares the folders; dvclive writes none


def test_library_logs_show_above_progress_bars(capsys):
    show_logs()
    logging.getLogger("pipeline.training.retriever").info("adapter: epoch %d loss %.4f", 1, 0.5)
    assert "pipeline.training.retriever: adapter: epoch 1 loss 0.5000" in capsys.readouterr().out
