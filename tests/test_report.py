"""The documents' generated tables: filled from metrics/*.json, and the committed documents agree with the
committed metrics (a table edited by hand, or metrics rewritten without `python -m pipeline.measurement.report`,
fails)."""
import json
from pathlib import Path

import pytest
import yaml

from pipeline.config.section import load_section
from pipeline.config.tagger import TaggerConfig, TaggerDevelopment
from pipeline.measurement import report
from pipeline.measurement.provenance import Lock, md5
from pipeline.measurement.splits import CHOOSING, SCENE_SPLITS, TRAINING, wording_splits

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
    assert f"md5 `{md5(tmp_path / 'metrics' / 'eval.json')}`" in filled  # no dvc.lock here: the file's own md5
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


def _project(root: Path, lr: float, source: str = "def run(): pass\n") -> None:
    """A project whose stage `train` (params tail.lr, code train.py) wrote metrics/eval.json with lr 0.1."""
    (root / "metrics").mkdir(exist_ok=True)
    (root / "metrics" / "eval.json").write_text(json.dumps({"val": {"adapter_tail": {"top1": 0.5}}}))
    (root / "train.py").write_text("def run(): pass\n")
    lock = {"schema": "2.0", "stages": {"train": {
        "cmd": "python -m train", "params": {"params.yaml": {"tail.lr": 0.1}},
        "deps": [{"path": "train.py", "md5": md5(root / "train.py")}],
        "outs": [{"path": "metrics/eval.json", "md5": md5(root / "metrics" / "eval.json")}]}}}
    (root / "dvc.lock").write_text(yaml.safe_dump(lock))
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"train": {"cmd": "python -m train",
                                                                         "deps": ["train.py"]}}}))
    (root / "params.yaml").write_text(yaml.safe_dump({"tail": {"lr": lr}}))
    (root / "train.py").write_text(source)


def test_a_table_carries_the_md5_dvc_lock_recorded_for_its_metrics(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _project(tmp_path, lr=0.1)
    table = report.render("methods")
    assert "| adapter_tail | 0.500 |" in table
    assert f"md5 `{md5(tmp_path / 'metrics' / 'eval.json')}` (`dvc.lock` stage `train`)" in table


def test_a_stage_that_would_rerun_shows_no_figures(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _project(tmp_path, lr=0.2)  # the recipe changed since the stage ran
    table = report.render("methods")
    assert "0.500" not in table and "params tail.lr changed" in table and "make demo" in table
    _project(tmp_path, lr=0.1, source="def run(): return 1\n")  # its code changed
    assert "train.py changed" in report.render("methods")


def test_metrics_that_are_not_what_the_lock_recorded_are_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _project(tmp_path, lr=0.1)
    (tmp_path / "metrics" / "eval.json").write_text(json.dumps({"val": {"adapter_tail": {"top1": 0.9}}}))
    with pytest.raises(ValueError, match="metrics/eval.json .* is not what dvc.lock's stage train recorded"):
        report.render("methods")


def test_the_committed_lock_dates_every_shipped_figure(monkeypatch):
    """The main path's stages, as dvc.lock holds them, are those of this commit's code and params."""
    monkeypatch.chdir(ROOT)
    lock = Lock()
    assert {stage: lock.stale(stage) for stage in ("evaluate", "verify", "evaluate_tagger", "headline")
            if lock.stale(stage)} == {}


def test_every_scored_split_says_what_it_is_used_for(monkeypatch):
    monkeypatch.chdir(ROOT)
    scored = {split for split, scores in json.loads(Path("metrics/eval.json").read_text()).items()
              if isinstance(scores, dict) and isinstance(scores.get("adapter_tail"), dict)}
    assert scored and scored <= {s.name for s in SCENE_SPLITS}
    tagger, development = load_section(TaggerConfig), load_section(TaggerDevelopment)
    uses = {use: " ".join(s.name for s in wording_splits(tagger, development) if s.used_for == use)
            for use in (TRAINING, CHOOSING)}
    assert all(f"`{Path(path).stem}`" in uses[TRAINING] for path in tagger.corpus)
    assert all(f"`{Path(path).stem}`" in uses[CHOOSING] for path in development.wordings)
    headline = report.headline({"top1_val": 0.9, "top1_out_of_generator_1+1": 0.9, "top1_test": 0.9})
    assert headline.count("**selection figure**") == 2


def test_the_readme_stays_a_small_front_door():
    """Tables and timings belong in docs/; the README keeps the quick start and a line per figure with a link."""
    assert len((ROOT / "README.md").read_bytes()) <= 8 * 1024
