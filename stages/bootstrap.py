"""DVC stage `bootstrap`: pretrains the small offline CLIP on its web of 2D artists (pretrained: bootstrap) and
writes it to pretrained/bootstrap, the checkpoint that ships with the repository; it reads nothing of the challenge
splits. With another backbone.pretrained it leaves the shipped checkpoint alone."""
import json
from dataclasses import asdict

import torch

from pipeline.config.backbone import BackboneConfig
from pipeline.config.bootstrap import BootstrapConfig
from pipeline.config.section import load_section
from pipeline.console import run_stage, show_logs
from pipeline.data.artwork import ArtworkMissingError
from pipeline.data.catalog import load_catalog
from pipeline.pretrained import BOOTSTRAP_DIR, BOOTSTRAP_WEIGHTS, half_state, write_checkpoint
from pipeline.training.bootstrap import HeldOutScenes, train_bootstrap
from pipeline.training.curves import TrainingCurve
from submission_src.backbone import Backbone
from submission_src.phrases import object_phrase


def main() -> None:
    show_logs()
    chosen = load_section(BackboneConfig)
    if chosen.pretrained != "bootstrap":
        print(f"backbone.pretrained is {chosen.pretrained!r}: the bootstrap stand-in is not used")
        return
    config = BootstrapConfig.from_params()
    torch.manual_seed(config.seed)
    backbone = Backbone.create(chosen.model)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    preprocess = backbone.clip.visual.preprocess_cfg
    held_out = HeldOutScenes.draw(config, preprocess["size"], preprocess["mean"], preprocess["std"])
    phrase_tokens = backbone.tokenizer([object_phrase(o.name) for o in load_catalog()])

    def web_recall(model) -> dict:
        return {f"recall_{style}": value for style, value in held_out.recall(model, phrase_tokens, device).items()}

    with TrainingCurve("bootstrap", step_key="step") as curve:
        history = train_bootstrap(backbone.clip, backbone.tokenizer, [object_phrase(o.name) for o in load_catalog()],
                                  config, evaluate=web_recall, eval_every=config.eval_every,
                                  device=device, on_step=curve)
    shipped = half_state(backbone.clip.cpu().state_dict())
    backbone.clip.load_state_dict(shipped)  # measured as it ships: in fp16
    metrics = {"web_object_recall_at_k": held_out.recall(backbone.clip.eval(), phrase_tokens, "cpu"),
               "train_seconds": round(history[-1]["seconds"], 1), "steps": config.steps,
               "scenes_seen": config.steps * config.batch_size}
    recipe = {"model": chosen.model, "bootstrap": asdict(config)}
    write_checkpoint(BOOTSTRAP_DIR, BOOTSTRAP_WEIGHTS.name, shipped, recipe, metrics)
    print(json.dumps(metrics))


if __name__ == "__main__":
    run_stage(main, (ArtworkMissingError,))
