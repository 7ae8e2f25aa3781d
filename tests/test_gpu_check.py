"""The device check runs end to end — here on the CPU, with a tiny model and a few images — and writes one JSON
with every figure it promises."""
import json
import shutil
from pathlib import Path

from benchmarks import gpu_check
from pipeline.paths import SYNTHETIC_ROOT

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_writes_every_figure(tiny, small_split, tmp_path, monkeypatch):
    _, spec, _ = tiny
    for split in ("train", "test"):  # the synthetic splits it reads, in a project folder of its own
        shutil.copytree(small_split, tmp_path / SYNTHETIC_ROOT / split)
    shutil.copy2(ROOT / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["gpu_check", "--model", spec.model, "--images", "48", "--judge-images", "40",
                                          "--out", "check.json"])
    gpu_check.main()
    result = json.loads(Path("check.json").read_text())
    assert result["features"]["img_s"] > 0 and result["features"]["images"] >= 24
    assert {"adapter_speedup", "tail_speedup", "adapter_epoch_s_cached", "tail_epoch_s_recomputed"} <= set(
        result["training"])
    streaming = result["streaming"]  # a store this small is under the least budget that streams: not timed
    assert streaming["budget_bytes"] >= streaming["tail_bytes"] > 0 and "tail_epoch_s_streamed" not in streaming
    submission = result["submission"]
    assert submission["end_to_end_img_s"] > 0 and submission["images_per_10_min"] > 0
    assert 0 < submission["end_to_end_vs_encode_only"]
    judge = result["judge_scale"]
    assert judge["database_images"] == 40 and judge["process_seconds"] > 0 and judge["images_per_s"] > 0
    assert "fp16_vs_fp32_min_cosine" in judge  # compared on a GPU only: on the CPU both run fp32
