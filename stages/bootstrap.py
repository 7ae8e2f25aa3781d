"""DVC stage `bootstrap`: pretrains the small offline CLIP on synthetic training scenes (pretrained: bootstrap)."""
import json
import shutil
from pathlib import Path

import pandas as pd
import torch

from pipeline.bootstrap import BootstrapConfig, scene_recall, train_bootstrap
from pipeline.catalog import load_catalog
from pipeline.dataset import SYNTHETIC_ROOT
from pipeline.params import load_params
from submission_src.model import Backbone, object_phrase

OUT = Path("models/bootstrap")
EVAL_SCENES = 400  # val scenes scored during training; the final metric uses all of them


def main() -> None:
    params = load_params()
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    Path("metrics").mkdir(exist_ok=True)
    Path("plots").mkdir(exist_ok=True)
    if params["backbone"]["pretrained"] != "bootstrap":
        (OUT / "SKIPPED").write_text(f"backbone.pretrained is {params['backbone']['pretrained']!r}\n")
        Path("metrics/bootstrap.json").write_text(json.dumps({"skipped": True}) + "\n")
        Path("plots/bootstrap.csv").write_text("step,image_loss,text_loss\n")
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
        evaluate=lambda _: {"val_recall": scene_recall(backbone, val_scenes.iloc[:EVAL_SCENES], val_dir / "images")},
        eval_every=params["bootstrap"]["eval_every"], device="cuda" if torch.cuda.is_available() else "cpu")
    torch.save(backbone.clip.cpu().state_dict(), OUT / "clip.pt")
    recall = {split: scene_recall(backbone, pd.read_parquet(SYNTHETIC_ROOT / split / "scenes.parquet"),
                                  SYNTHETIC_ROOT / split / "images") for split in ("val", "test")}
    metrics = {"object_recall_at_k": recall,
               "train_seconds": round(history[-1]["seconds"], 1), "steps": config.steps,
               "scenes_seen": config.steps * config.batch_size}
    Path("metrics/bootstrap.json").write_text(json.dumps(metrics, indent=2) + "\n")
    pd.DataFrame(history).to_csv("plots/bootstrap.csv", index=False)
    print(json.dumps(metrics))


if __name__ == "__main__":
    main()
