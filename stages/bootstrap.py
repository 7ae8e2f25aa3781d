"""DVC stage `bootstrap`: pretrains the small offline CLIP on synthetic training scenes (pretrained: bootstrap)."""
import json
import shutil

import pandas as pd
import torch

from pipeline.bootstrap import BootstrapConfig, scene_recall, train_bootstrap
from pipeline.catalog import load_catalog
from pipeline.console import show_logs
from pipeline.curves import TrainingCurve
from pipeline.params import load_params
from pipeline.paths import BOOTSTRAP_DIR, BOOTSTRAP_METRICS, BOOTSTRAP_WEIGHTS, METRICS, SYNTHETIC_ROOT
from submission_src.backbone import Backbone
from submission_src.phrases import object_phrase

EVAL_SCENES = 400  # val scenes scored during training; the final metric uses all of them


def main() -> None:
    show_logs()
    params = load_params()
    shutil.rmtree(BOOTSTRAP_DIR, ignore_errors=True)
    BOOTSTRAP_DIR.mkdir(parents=True)
    METRICS.mkdir(exist_ok=True)
    with TrainingCurve("bootstrap", step_key="step") as curve:
        if params["backbone"]["pretrained"] != "bootstrap":
            (BOOTSTRAP_DIR / "SKIPPED").write_text(f"backbone.pretrained is {params['backbone']['pretrained']!r}\n")
            BOOTSTRAP_METRICS.write_text(json.dumps({"skipped": True}) + "\n")
            return
        config = BootstrapConfig(**{k: v for k, v in params["bootstrap"].items() if k != "eval_every"},
                                 data_seed=params["data"]["seed"],
                                 held_out_pair_fraction=params["data"]["held_out_pair_fraction"])
        torch.manual_seed(config.seed)
        backbone = Backbone.create(params["backbone"]["model"])
        val_dir = SYNTHETIC_ROOT / "val"
        val_scenes = pd.read_parquet(val_dir / "scenes.parquet")
        history = train_bootstrap(
            backbone.clip, backbone.tokenizer, [object_phrase(o.name) for o in load_catalog()], config,
            evaluate=lambda _: {"val_recall": scene_recall(backbone, val_scenes.iloc[:EVAL_SCENES],
                                                           val_dir / "images")},
            eval_every=params["bootstrap"]["eval_every"], device="cuda" if torch.cuda.is_available() else "cpu",
            on_step=curve)
    torch.save(backbone.clip.cpu().state_dict(), BOOTSTRAP_WEIGHTS)
    recall = {split: scene_recall(backbone, pd.read_parquet(SYNTHETIC_ROOT / split / "scenes.parquet"),
                                  SYNTHETIC_ROOT / split / "images") for split in ("val", "test")}
    metrics = {"object_recall_at_k": recall,
               "train_seconds": round(history[-1]["seconds"], 1), "steps": config.steps,
               "scenes_seen": config.steps * config.batch_size}
    BOOTSTRAP_METRICS.write_text(json.dumps(metrics, indent=2) + "\n")
    print(json.dumps(metrics))


if __name__ == "__main__":
    main()
