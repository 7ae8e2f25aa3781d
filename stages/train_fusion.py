"""DVC stage `train_fusion`: the adapter and the combiner baseline on frozen cached features."""
from pathlib import Path

import pandas as pd
import torch

from pipeline.baselines import Combiner
from pipeline.experiment import Experiment
from pipeline.training import Retriever, train_retriever
from submission_src.model import FusionAdapter

OUT = Path("models/fusion")


def main() -> None:
    experiment = Experiment.load()
    config = experiment.params["adapter"]
    train = experiment.queries("train")
    OUT.mkdir(parents=True, exist_ok=True)
    history = []
    for name, fusion in (("adapter", FusionAdapter(experiment.dim, config["hidden"])),
                         ("combiner", Combiner(experiment.dim))):
        retriever = Retriever(fusion)
        history += train_retriever(retriever, experiment.cache, train, epochs=config["epochs"],
                                   batch_size=config["batch_size"], lr=config["lr"],
                                   weight_decay=config["weight_decay"], seed=config["seed"], desc=name)
        torch.save(fusion.state_dict(), OUT / f"{name}.pt")
    Path("plots").mkdir(exist_ok=True)
    pd.DataFrame(history).to_csv("plots/train_fusion.csv", index=False)


if __name__ == "__main__":
    main()
