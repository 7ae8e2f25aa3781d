"""Configuration of the fusion and tail training: `adapter`, `tail`, `train`, `learning_curve` (see
pipeline/config/)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class Schedule:
    """How one retriever is trained (pipeline/training/retriever.py's train_retriever)."""
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    seed: int
    object_weight: float  # weight of the object alignment loss (0: InfoNCE only)
    tower_lr_scale: float  # the retrained visual blocks' learning rate, as a share of lr
    linked_batches: bool  # batches of groups that share images
    negative_memory: int  # images of earlier batches kept as more negatives (0: none)


@dataclass(frozen=True)
class AdapterConfig:
    """`adapter`: the fusion adapter's size and its schedule on frozen features (also the combiner's)."""
    SECTION: ClassVar[str] = "adapter"
    hidden: int
    text_input: bool  # the correction also reads the whole text's embedding
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    seed: int

    @property
    def schedule(self) -> Schedule:
        """On frozen features there is no tower to scale and nothing to align: InfoNCE on shuffled groups."""
        return Schedule(self.epochs, self.batch_size, self.lr, self.weight_decay, self.seed, object_weight=0.0,
                        tower_lr_scale=1.0, linked_batches=False, negative_memory=0)


@dataclass(frozen=True)
class TailConfig:
    """`tail`: the adapter and the last `blocks` visual blocks, trained jointly on cached activations."""
    SECTION: ClassVar[str] = "tail"
    blocks: int  # K: what enters the last K visual blocks is cached, and they are retrained
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    object_weight: float
    tower_lr_scale: float
    freeze_norms: bool  # keep the normalisation layers' weights as pretrained
    interpolation: float  # WiSE-FT α: (1 - α)·start + α·trained (1: the trained weights)
    linked_batches: bool
    negative_memory: int
    seed: int

    @property
    def schedule(self) -> Schedule:
        return Schedule(self.epochs, self.batch_size, self.lr, self.weight_decay, self.seed, self.object_weight,
                        self.tower_lr_scale, self.linked_batches, self.negative_memory)


@dataclass(frozen=True)
class TrainConfig:
    """`train`: what training may hold in host memory."""
    SECTION: ClassVar[str] = "train"
    memory_gb: float  # cached tail inputs; a bigger store is streamed in windows within it


@dataclass(frozen=True)
class LearningCurveConfig:
    """`learning_curve`: adapter and adapter_tail retrained on shares of the training reference images."""
    SECTION: ClassVar[str] = "learning_curve"
    shares: tuple[float, ...]
    seed: int
