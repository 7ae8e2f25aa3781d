"""DVC stage `train_tail`: the adapter and the last K visual blocks, jointly, on cached activations."""
from pathlib import Path

import pandas as pd
import torch

from pipeline.experiment import Experiment
from pipeline.training import Retriever, train_retriever
from submission_src.model import FusionAdapter

OUT = Path("models/tail")


def main() -> None:
    experiment = Experiment.load()
    config, blocks = experiment.params["tail"], experiment.spec.tail_blocks
    backbone = experiment.backbone
    for param in backbone.tail_parameters(blocks).values():
        param.requires_grad_(True)  # batch-norm statistics stay frozen: the backbone stays in eval mode
    fusion = FusionAdapter(experiment.dim, experiment.params["adapter"]["hidden"])
    retriever = Retriever(fusion, backbone, blocks)
    history = train_retriever(retriever, experiment.cache, experiment.queries("train"), epochs=config["epochs"],
                              batch_size=config["batch_size"], lr=config["lr"],
                              weight_decay=config["weight_decay"], seed=config["seed"], desc="adapter_tail")
    OUT.mkdir(parents=True, exist_ok=True)
    tail = {name: p.detach().clone() for name, p in backbone.tail_parameters(blocks).items()}
    torch.save({"adapter": fusion.state_dict(), "tail": tail, "tail_blocks": blocks},
               OUT / "adapter_tail.pt")
    Path("plots").mkdir(exist_ok=True)
    pd.DataFrame(history).to_csv("plots/train_tail.csv", index=False)


if __name__ == "__main__":
    main()
