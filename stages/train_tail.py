"""DVC stage `train_tail`: the adapter and the last K visual blocks, jointly, on cached activations."""
import torch

from pipeline.console import run_stage, show_logs
from pipeline.paths import ADAPTER_TAIL, TAIL_DIR
from pipeline.pretrained import CheckpointError
from pipeline.training.curves import TrainingCurve
from pipeline.training.experiment import Experiment


def main() -> None:
    show_logs()
    experiment = Experiment.load()
    with TrainingCurve("adapter_tail", step_key="epoch") as curve:
        retriever, _ = experiment.train_adapter_tail(experiment.training_queries(), on_epoch=curve)
    blocks = retriever.tail_blocks
    tail = {name: p.detach().clone() for name, p in retriever.backbone.tail_parameters(blocks).items()}
    TAIL_DIR.mkdir(parents=True, exist_ok=True)
    torch.save({"adapter": retriever.fusion.saved(), "tail": tail, "tail_blocks": blocks}, ADAPTER_TAIL)


if __name__ == "__main__":
    run_stage(main, (CheckpointError,))
