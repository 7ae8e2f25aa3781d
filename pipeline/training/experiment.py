"""What the training and evaluation stages share: the params' cache, query tagger and query sets."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

from pipeline.config.augment import AugmentConfig
from pipeline.config.features import FeatureSpec
from pipeline.config.settings import Settings
from pipeline.config.training import Schedule, TailConfig
from pipeline.data.dataset import load_manifest
from pipeline.data.names import team_tagger
from pipeline.params import resolve_device
from pipeline.paths import ADAPTER_TAIL, CACHE_ROOT
from pipeline.training.augmentation import augment_queries
from pipeline.training.feature_store import FeatureCache
from pipeline.training.features import data_fingerprint, feature_key
from pipeline.training.retriever import QuerySet, Retriever, build_query_set, train_retriever
from submission_src.backbone import Backbone
from submission_src.fusion import FusionAdapter
from submission_src.tagger import QueryTagger


def norm_parameters(model: torch.nn.Module) -> set[str]:
    """Names (as in the state dict) of the weights of every normalisation layer of `model`."""
    norms = (torch.nn.modules.batchnorm._NormBase, torch.nn.LayerNorm, torch.nn.GroupNorm)
    return {f"{module_name}.{name}" for module_name, module in model.named_modules() if isinstance(module, norms)
            for name, _ in module.named_parameters(recurse=False)}


@torch.no_grad()
def interpolate(model: torch.nn.Module, start: dict[str, torch.Tensor], alpha: float) -> None:
    """Moves each weight named in `start` to (1 − alpha)·start + alpha·now, in place (WiSE-FT)."""
    if alpha == 1.0:
        return
    for name, param in model.named_parameters():
        if name in start:
            param.lerp_(start[name].to(param.device, param.dtype), 1.0 - alpha)


@dataclass
class Experiment:
    settings: Settings
    spec: FeatureSpec
    backbone: Backbone
    cache: FeatureCache
    tagger: QueryTagger

    @classmethod
    def load(cls) -> "Experiment":
        settings, spec = Settings.load(), FeatureSpec.from_params()
        backbone = spec.load_backbone().eval()
        for p in backbone.parameters():
            p.requires_grad_(False)
        cache = FeatureCache.open(CACHE_ROOT / feature_key(spec, backbone, data_fingerprint()),
                                  settings.train.memory_gb)
        tagger = QueryTagger.from_saved(team_tagger())
        return cls(settings, spec, backbone, cache, tagger)

    def queries(self, split: str) -> QuerySet:
        return build_query_set(self.cache, load_manifest()[split], self.tagger, self.backbone)

    def training_queries(self, share: float | None = None, augment: AugmentConfig | None = None) -> QuerySet:
        """The training split's queries (of a `share` of its reference images: whole groups), augmented as
        `augment` says (default: params `augment`), each in every view of its images the cache holds (params
        `views`); the augmentation only ever sees the queries chosen."""
        queries = self.queries("train")
        if share is not None:
            queries = queries.reference_groups(share, self.settings.learning_curve.seed)
        return augment_queries(queries, augment or self.settings.augment, self.settings.wording,
                               self.backbone.encode_text).with_views(self.cache.images)

    def fusion(self, text: bool | None = None) -> FusionAdapter:
        """A new fusion adapter of the params' size; `text`: whether it reads the whole text (default: params)."""
        adapter = self.settings.adapter
        return FusionAdapter(self.dim, adapter.hidden, adapter.text_input if text is None else text)

    def trained_adapter_tail(self) -> Retriever:
        """The adapter_tail `train_tail` saved: its adapter, and its tuned tail on a backbone of its own."""
        saved = torch.load(ADAPTER_TAIL, weights_only=True)
        backbone = self.spec.load_backbone().eval()
        backbone.clip.load_state_dict(saved["tail"], strict=False)
        return Retriever(FusionAdapter.from_saved(saved["adapter"]), backbone, saved["tail_blocks"])

    @property
    def device(self) -> str:
        return resolve_device(self.settings.device)

    @property
    def dim(self) -> int:
        return self.cache.image_embeddings.shape[1]

    def train_adapter(self, queries: QuerySet, desc: str = "adapter", schedule: Schedule | None = None,
                      features=None, max_batches: int | None = None,
                      on_epoch: Callable[[dict], None] | None = None, text: bool | None = None
                      ) -> tuple[Retriever, list[dict]]:
        """A fusion adapter trained on frozen features: the cache, or `features` (anything with its methods);
        `schedule`: default params `adapter`'s; `text`: whether the adapter reads the whole text (default: params)."""
        retriever = Retriever(self.fusion(text))
        return retriever, self.train(retriever, queries, schedule or self.settings.adapter.schedule, desc, features,
                                      max_batches, on_epoch)

    def train_adapter_tail(self, queries: QuerySet, desc: str = "adapter_tail", tail: TailConfig | None = None,
                           features=None, max_batches: int | None = None,
                           on_epoch: Callable[[dict], None] | None = None, text: bool | None = None
                           ) -> tuple[Retriever, list[dict]]:
        """A fusion adapter and the last K visual blocks, jointly, on cached activations (default `tail`: params
        `tail`); the tail starts from the pretrained weights every time (a backbone of its own). `freeze_norms`
        keeps the normalisation layers' weights as pretrained, and `interpolation` α returns
        (1 − α)·start + α·trained for every trained weight (WiSE-FT; 1: the trained weights)."""
        tail = tail or self.settings.tail
        blocks = self.spec.tail_blocks
        backbone = self.spec.load_backbone().eval()  # batch-norm statistics stay frozen; only tail weights learn
        for param in backbone.parameters():
            param.requires_grad_(False)
        frozen = norm_parameters(backbone.clip) if tail.freeze_norms else set()
        for name, param in backbone.tail_parameters(blocks).items():
            param.requires_grad_(name not in frozen)
        retriever = Retriever(self.fusion(text), backbone, blocks)
        start = {name: p.detach().clone() for name, p in retriever.named_parameters() if p.requires_grad}
        history = self.train(retriever, queries, tail.schedule, desc, features, max_batches, on_epoch)
        interpolate(retriever, start, tail.interpolation)
        return retriever, history

    def train(self, retriever: Retriever, queries: QuerySet, schedule: Schedule, desc: str, features=None,
              max_batches: int | None = None, on_epoch: Callable[[dict], None] | None = None) -> list[dict]:
        """Trains `retriever` in place on the cache (or `features`) with `schedule`; `on_epoch` gets each epoch's
        history row (a training curve)."""
        return train_retriever(retriever, self.cache if features is None else features, queries, **asdict(schedule),
                               desc=desc, max_batches=max_batches, device=self.device, on_epoch=on_epoch)
