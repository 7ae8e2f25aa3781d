"""DVC stage `train_fusion`: the adapter and the combiner baseline on frozen cached features."""
from pathlib import Path

import pandas as pd
import torch

from pipeline.baselines import Combiner
from pipeline.experiment import Experiment
from pipeline.training import Retriever

OUT = Path("models/fusion")


def main() -> None:
    experiment = Experiment.load()
    train = experiment.queries("train")
    OUT.mkdir(parents=True, exist_ok=True)
    adapter, history = experiment.train_adapter(train)
    torch.save(adapter.fusion.state_dict(), OUT / "adapter.pt")
    combiner = Retriever(Combiner(experiment.dim))  # the baseline, on the adapter's schedule
    history += experiment.train(combiner, train, experiment.params["adapter"], "combiner")
    torch.save(combiner.fusion.state_dict(), OUT / "combiner.pt")
    Path("plots").mkdir(exist_ok=True)
    pd.DataFrame(history).to_csv("plots/train_fusion.csv", index=False)


if __name__ == "__main__":
    main()
