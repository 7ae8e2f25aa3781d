"""DVC stage `bootstrap`: pretrains the small offline CLIP on its web of 2D artists (pretrained: bootstrap); it
reads nothing of the challenge splits."""
import json
import shutil

import torch

from pipeline.bootstrap import BootstrapConfig, HeldOutScenes, train_bootstrap
from pipeline.catalog import load_catalog
from pipeline.console import show_logs
from pipeline.curves import TrainingCurve
from pipeline.params import load_params
from pipeline.paths import BOOTSTRAP_DIR, BOOTSTRAP_METRICS, BOOTSTRAP_WEIGHTS, METRICS
from submission_src.backbone import Backbone
from submission_src.phrases import object_phrase


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
        device = "cuda" if torch.cuda.is_available() else "cpu"
        preprocess = backbone.clip.visual.preprocess_cfg
        held_out = HeldOutScenes.draw(config, preprocess["size"], preprocess["mean"], preprocess["std"])
        phrase_tokens = backbone.tokenizer([object_phrase(o.name) for o in load_catalog()])

        def web_recall(model) -> dict:
            return {f"recall_{style}": value for style, value in held_out.recall(model, phrase_tokens, device).items()}

        history = train_bootstrap(backbone.clip, backbone.tokenizer, [object_phrase(o.name) for o in load_catalog()],
                                  config, evaluate=web_recall, eval_every=params["bootstrap"]["eval_every"],
                                  device=device, on_step=curve)
    torch.save(backbone.clip.cpu().state_dict(), BOOTSTRAP_WEIGHTS)
    metrics = {"web_object_recall_at_k": held_out.recall(backbone.clip.eval(), phrase_tokens, "cpu"),
               "train_seconds": round(history[-1]["seconds"], 1), "steps": config.steps,
               "scenes_seen": config.steps * config.batch_size}
    BOOTSTRAP_METRICS.write_text(json.dumps(metrics, indent=2) + "\n")
    print(json.dumps(metrics))


if __name__ == "__main__":
    main()
