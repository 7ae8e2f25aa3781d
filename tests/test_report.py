"""The documents' generated tables: filled from metrics/*.json, and the committed documents agree with the
committed metrics (a table edited by hand, or metrics rewritten without `python -m pipeline.measurement.report`,
fails)."""
import json
from pathlib import Path

import pytest

from pipeline.measurement import report

ROOT = Path(__file__).resolve().parents[1]


def test_markers_are_filled_from_the_metrics_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "metrics").mkdir()
    text = "intro\n<!-- generated: methods -->\nstale\n<!-- /generated -->\nend\n"
    assert "make demo" in report.filled(text)  # no metrics yet: the command that writes them
    (tmp_path / "metrics" / "eval.json").write_text(json.dumps(
        {"val": {"adapter_tail": {"top1": 0.5}, "arithmetic": {"top1": 0.25}},
         "test": {"adapter_tail": {"top1": 0.75}, "arithmetic": {"top1": 0.125}}, "paraphrase_gap": {}}))
    filled = report.filled(text)
    assert "stale" not in filled and filled.startswith("intro\n") and filled.endswith("<!-- /generated -->\nend\n")
    assert "| adapter_tail | 0.500 | 0.750 |" in filled and "| arithmetic | 0.250 | 0.125 |" in filled
    assert report.filled(filled) == filled
    with pytest.raises(KeyError, match="nope"):
        report.filled("<!-- generated: nope -->\n<!-- /generated -->")


def test_the_committed_documents_hold_the_committed_metrics(monkeypatch):
    monkeypatch.chdir(ROOT)
    documents = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    stale = [d.name for d in documents if report.filled(d.read_text(encoding="utf-8")) != d.read_text(encoding="utf-8")]
    assert not stale, f"generated tables out of date in {stale}: run python -m pipeline.measurement.report"


def test_the_fresh_clone_timing_names_its_machine_commit_and_date(tmp_path, monkeypatch):
    from benchmarks.fresh_clone import machine

    monkeypatch.chdir(tmp_path)
    (tmp_path / "metrics").mkdir()
    run = {"seconds": 750.0, "exit_status": 0, "commit": "abc1234", "date": "2026-12-03", "machine": machine()}
    (tmp_path / "metrics" / "fresh_clone.json").write_text(json.dumps({"targets": {"demo": run}}))
    table = report.render("fresh_clone")
    assert "| `make demo` | 12.5 | 0 | `abc1234` | 2026-12-03 |" in table and "CPU cores" in table


def test_a_fresh_clone_run_records_where_its_time_went(tmp_path):
    from benchmarks.fresh_clone import run_target

    (tmp_path / "Makefile").write_text("demo:\n\t@sleep 1\n\t@echo \"Running stage 'data':\"\n\t@sleep 2\n"
                                       "\t@echo \"Running stage 'train':\"\n")
    result = run_target("demo", tmp_path, tmp_path / "make.log")
    assert result["exit_status"] == 0 and list(result["phases"]) == ["set-up", "data", "train"]
    assert 0.9 <= result["phases"]["set-up"] < result["phases"]["data"] and result["phases"]["train"] < 1
    assert "] Running stage 'data':" in (tmp_path / "make.log").read_text()
