"""What the training and evaluation stages share: the params' cache, query tagger and query sets."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from pipeline.dataset import load_manifest, manifest_fingerprint
from pipeline.features import CACHE_ROOT, FeatureSpec
from pipeline.params import load_params
from pipeline.training import FeatureCache, QuerySet, build_query_set
from submission_src.model import Backbone, QueryTagger

TAGGER_PATH = Path("models/parser/tagger.pt")


@dataclass
class Experiment:
    params: dict
    spec: FeatureSpec
    backbone: Backbone
    cache: FeatureCache
    parser: QueryTagger

    @classmethod
    def load(cls) -> "Experiment":
        params = load_params()
        spec = FeatureSpec.from_params(params)
        backbone = spec.load_backbone().eval()
        for p in backbone.parameters():
            p.requires_grad_(False)
        cache = FeatureCache.open(CACHE_ROOT / spec.key(backbone, manifest_fingerprint()))
        parser = QueryTagger.from_saved(torch.load(TAGGER_PATH, weights_only=True))
        return cls(params, spec, backbone, cache, parser)

    def queries(self, split: str) -> QuerySet:
        return build_query_set(self.cache, load_manifest()[split], self.parser, self.backbone)

    @property
    def dim(self) -> int:
        return self.cache.image_embeddings.shape[1]
