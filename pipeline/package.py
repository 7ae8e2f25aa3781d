"""Assembles the Hugging Face repo the judge runs: code from submission_src/, one weights.pth, a model card."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from pipeline.features import FeatureSpec

SOURCE = Path("submission_src")
SHIPPED_CODE = ("model.py", "generate_embeds.py", "requirements.txt")


def weights_payload(spec: FeatureSpec, tuned_path: Path, tagger_path: Path) -> dict:
    """Everything the deployed model loads: backbone config and weights with the tuned tail, adapter, tagger."""
    backbone = spec.load_backbone()
    tuned = torch.load(tuned_path, map_location="cpu", weights_only=True)
    backbone.clip.load_state_dict(tuned["tail"], strict=False)
    model = json.loads(Path(spec.model).read_text()) if spec.model.endswith(".json") else spec.model
    adapter = tuned["adapter"]
    return {
        "format": 1,
        # fp16 on disk: what the judge's GPU runs anyway; half the bytes to fit the 4 GB limit and load.
        "backbone": {"model": model, "state_dict": {name: value.half() if value.is_floating_point() else value
                                                    for name, value in backbone.clip.state_dict().items()}},
        "adapter": {"dim": adapter["correction.2.weight"].shape[0], "hidden": adapter["correction.0.weight"].shape[0],
                    "state_dict": adapter},
        "parser": torch.load(tagger_path, map_location="cpu", weights_only=True),
        "tail_blocks": tuned["tail_blocks"],
    }


def _paraphrase_line(metrics: dict) -> str:
    """The test split is worded by a sealed held-out file; its plain twin holds the same queries in training wording."""
    if "paraphrase_gap" not in metrics:
        return ""
    gap = metrics["paraphrase_gap"]["adapter_tail"]
    return (f"The test texts are written in held-out wording nobody training this model saw; the same queries in the "
            f"training wording score {metrics['test_plain']['adapter_tail']['top1']:.4f} (paraphrase gap "
            f"{100 * gap:+.1f} points).\n")


def model_card(metrics: dict, bootstrap: dict, spec: FeatureSpec, tail_blocks: int) -> str:
    rows = "\n".join(f"| {method} | {scores['top1']:.4f} | {metrics['val'][method]['top1']:.4f} |"
                     for method, scores in metrics["test"].items() if isinstance(scores, dict) and "top1" in scores)
    recall = bootstrap.get("object_recall_at_k", {})
    return f"""---
tags: [composed-image-retrieval, open_clip]
---
# Composed image retrieval: reference image + modification text -> target image

Backbone `{spec.model if not spec.model.endswith('.json') else 'custom open_clip config (in weights.pth)'}`,
weights `{spec.pretrained}`, last {tail_blocks} visual block(s) fine-tuned with a fusion adapter
(query = image + a·Σ add − r·Σ remove + learned correction) on the objects a learned tagger
finds in the text (a character n-gram BiLSTM; no LLM).

`generate_embeds.py` exposes `encode_queries(df)` (columns `query_image`, `query_text`) and
`encode_database(df)` (column `target_image`); both return L2-normalised float32 rows. Offline: nothing is
downloaded at run time.

## Top-1 (cosine, argmax over the split's unique targets) on the synthetic benchmark

| method | test | val |
|---|---|---|
{rows}

{_paraphrase_line(metrics)}
Bootstrap backbone zero-shot object recall@k: val {recall.get('val', float('nan')):.3f}, test {recall.get('test', float('nan')):.3f}.
"""


def build_repo(out: Path, spec: FeatureSpec, tuned_path: Path, tagger_path: Path, metrics: dict, bootstrap: dict) -> Path:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for name in SHIPPED_CODE:
        shutil.copy2(SOURCE / name, out / name)
    payload = weights_payload(spec, tuned_path, tagger_path)
    torch.save(payload, out / "weights.pth")
    (out / "README.md").write_text(model_card(metrics, bootstrap, spec, payload["tail_blocks"]))
    return out
