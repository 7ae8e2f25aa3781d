"""DVC stage `train_fusion`: the adapter and the combiner baseline on frozen cached features."""
import torch

from pipeline.console import run_stage, show_logs
from pipeline.paths import ADAPTER, COMBINER, FUSION_DIR
from pipeline.pretrained import CheckpointError
from pipeline.training.baselines import Combiner
from pipeline.training.curves import TrainingCurve
from pipeline.training.experiment import Experiment
from pipeline.training.retriever import Retriever


def main() -> None:
    show_logs()
    experiment = Experiment.load()
    train = experiment.training_queries()
    FUSION_DIR.mkdir(parents=True, exist_ok=True)
    with TrainingCurve("adapter", step_key="epoch") as curve:
        adapter, _ = experiment.train_adapter(train, on_epoch=curve)
    torch.save(adapter.fusion.saved(), ADAPTER)
    combiner = Retriever(Combiner(experiment.dim))  # the baseline, on the adapter's schedule
    with TrainingCurve("combiner", step_key="epoch") as curve:
        experiment.train(combiner, train, experiment.settings.adapter.schedule, "combiner", on_epoch=curve)
    torch.save(combiner.fusion.state_dict(), COMBINER)


if __name__ == "__main__":
    run_stage(main, (CheckpointError,))
