"""The sweep's table: experiments found by their git refs, their changed params and figures, and the choice
made on val and the out-of-generator split only."""
import json
import subprocess

import pytest

from pipeline.measurement import sweep


def _figures(val: float, test: float, oog: float) -> dict:
    return {"val": {"adapter_tail": {"top1": val}}, "test": {"adapter_tail": {"top1": test}},
            "out_of_generator": {"adapter_tail": {"top1": oog}}}


def _commit(repo, params: str, figures: dict, message: str) -> str:
    (repo / "params.yaml").write_text(params)
    (repo / "metrics").mkdir(exist_ok=True)
    (repo / "metrics" / "eval.json").write_text(json.dumps(figures))
    val = {"by_shape": {"1+1": {"queries": 100, "top1": figures["val"]["adapter_tail"]["top1"]}}}
    (repo / "metrics" / "diagnosis.json").write_text(json.dumps({"val": {"adapter_tail": val}}))
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message], cwd=repo, check=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()


def test_the_table_reads_each_experiment_and_never_chooses_on_test(tmp_path, monkeypatch):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    off = "variation: null\n"
    base = _commit(tmp_path, "tail:\n  lr: 0.1\n  epochs: 10\n" + off, _figures(0.90, 0.80, 0.70), "base")
    rows = {"better_test": ("tail:\n  lr: 0.2\n  epochs: 10\n" + off, _figures(0.90, 0.99, 0.60)),
            "better_oog": ("tail:\n  lr: 0.1\n  epochs: 5\n" + off, _figures(0.88, 0.70, 0.80)),
            "worse_val": ("tail:\n  lr: 0.3\n  epochs: 10\n" + off, _figures(0.60, 0.99, 0.99)),
            "no_tail": ("tail: null\n" + off, _figures(0.10, 0.10, 0.10)),
            "shadows": ("tail:\n  lr: 0.1\n  epochs: 10\nvariation:\n  shadows: 1.0\n", _figures(0.5, 0.5, 0.5))}
    for name, (params, figures) in rows.items():
        head = _commit(tmp_path, params, figures, name)
        subprocess.run(["git", "update-ref", f"refs/exps/{base[:2]}/{base[2:]}/{name}", head], cwd=tmp_path, check=True)
        subprocess.run(["git", "reset", "-q", "--hard", base], cwd=tmp_path, check=True)
    monkeypatch.chdir(tmp_path)
    sweep.main()
    [result] = json.loads((tmp_path / sweep.SWEEP_METRICS).read_text())["sweeps"]
    assert result["baseline"] == base
    assert result["chosen"] == "better_oog"  # the best mean of val and out-of-generator; test never counts
    assert result["rows"]["better_oog"]["changed"] == {"tail.epochs": 5}
    assert result["rows"]["no_tail"]["changed"] == {"tail": None}
    assert result["rows"]["shadows"]["changed"] == {"variation.shadows": 1.0}  # a null section filled, not removed
    assert result["rows"]["commit"]["changed"] == {} and result["rows"]["worse_val"]["val"] == pytest.approx(0.60)
    table = sweep.markdown(result["rows"], result["chosen"])
    assert "**better_oog**" in table and "`tail.lr=0.3`" in table


def test_a_sweep_against_a_new_commit_replaces_the_earlier_one(tmp_path, monkeypatch):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    monkeypatch.chdir(tmp_path)
    _commit(tmp_path, "tail:\n  lr: 0.1\n", _figures(0.90, 0.80, 0.70), "first")
    sweep.main()
    second = _commit(tmp_path, "tail:\n  lr: 0.2\n", _figures(0.95, 0.85, 0.75), "second")
    sweep.main()
    [latest] = json.loads((tmp_path / sweep.SWEEP_METRICS).read_text())["sweeps"]
    assert latest["baseline"] == second and latest["rows"]["commit"]["val"] == pytest.approx(0.95)


def test_a_row_within_the_noise_margin_keeps_the_commits_recipe():
    def figures(val: float, oog: float) -> dict:
        return {"val": val, "out_of_generator": oog}
    rows = {"commit": figures(0.989, 0.902), "within_noise": figures(0.989, 0.902 + 1.5 * sweep.NOISE_MARGIN),
            "worse": figures(0.950, 0.850)}
    assert sweep.choose(rows) == "commit"  # mean score up by 0.75 of the margin: the same recipe here
    rows["beyond_noise"] = figures(0.989, 0.902 + 2.5 * sweep.NOISE_MARGIN)
    assert sweep.choose(rows) == "beyond_noise"
    assert sweep.choose({"a": figures(0.85, None), "b": figures(0.8, 0.99)}) == "b"  # no commit row: the best


def test_a_tie_goes_to_a_row_that_trains_in_half_the_time():
    def figures(val: float, oog: float, seconds: float | None) -> dict:
        return {"val": val, "out_of_generator": oog, "tail_seconds": seconds}
    rows = {"commit": figures(0.989, 0.902, 600.0), "a_bit_faster": figures(0.989, 0.902, 400.0),
            "fast_but_worse": figures(0.989, 0.902 - 3 * sweep.NOISE_MARGIN, 100.0)}
    assert sweep.choose(rows) == "commit"  # 400 s is not half of 600: host speed alone moves that much
    rows["half_the_time"] = figures(0.989, 0.902 - sweep.NOISE_MARGIN, 300.0)
    rows["faster_still"] = figures(0.989, 0.902 - 1.5 * sweep.NOISE_MARGIN, 200.0)
    assert sweep.choose(rows) == "half_the_time"  # within the margin of the commit, cheaper: the best of those
    rows["untimed"] = figures(0.989, 0.902 + sweep.NOISE_MARGIN, None)
    assert sweep.choose(rows) == "half_the_time"
    rows["better"] = figures(0.989, 0.902 + 3 * sweep.NOISE_MARGIN, 900.0)
    assert sweep.choose(rows) == "better"  # beyond the margin the score decides, whatever the cost


def test_a_sweep_of_an_earlier_commit_is_tabled_against_that_commit(tmp_path, monkeypatch):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    monkeypatch.chdir(tmp_path)
    base = _commit(tmp_path, "tail:\n  lr: 0.1\n", _figures(0.90, 0.80, 0.70), "base")
    experiment = _commit(tmp_path, "tail:\n  lr: 0.2\n", _figures(0.95, 0.85, 0.90), "experiment")
    subprocess.run(["git", "update-ref", f"refs/exps/{base[:2]}/{base[2:]}/lr_0.2", experiment], check=True)
    subprocess.run(["git", "reset", "-q", "--hard", base], check=True)
    _commit(tmp_path, "tail:\n  lr: 0.3\n", _figures(0.50, 0.50, 0.50), "a later commit, no experiments")
    sweep.main(base[:7])
    [result] = json.loads((tmp_path / sweep.SWEEP_METRICS).read_text())["sweeps"]
    assert result["baseline"] == base and result["chosen"] == "lr_0.2"
    assert result["rows"]["commit"]["val"] == pytest.approx(0.90)
    assert result["rows"]["lr_0.2"]["changed"] == {"tail.lr": 0.2}
