"""DVC stage `train_tail`: the adapter and the last K visual blocks, jointly, on cached activations."""
from pathlib import Path

import pandas as pd
import torch

from pipeline.experiment import Experiment

OUT = Path("models/tail")


def main() -> None:
    experiment = Experiment.load()
    retriever, history = experiment.train_adapter_tail(experiment.queries("train"))
    blocks = retriever.tail_blocks
    tail = {name: p.detach().clone() for name, p in retriever.backbone.tail_parameters(blocks).items()}
    OUT.mkdir(parents=True, exist_ok=True)
    torch.save({"adapter": retriever.fusion.state_dict(), "tail": tail, "tail_blocks": blocks},
               OUT / "adapter_tail.pt")
    Path("plots").mkdir(exist_ok=True)
    pd.DataFrame(history).to_csv("plots/train_tail.csv", index=False)


if __name__ == "__main__":
    main()
