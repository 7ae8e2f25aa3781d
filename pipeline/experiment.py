"""What the training and evaluation stages share: the params' cache, parser and query sets."""
from __future__ import annotations

from dataclasses import dataclass

from pipeline.catalog import load_catalog
from pipeline.dataset import load_manifest
from pipeline.features import CACHE_ROOT, FeatureSpec
from pipeline.params import load_params
from pipeline.training import FeatureCache, QuerySet, build_query_set
from submission_src.model import Backbone, QueryParser


@dataclass
class Experiment:
    params: dict
    spec: FeatureSpec
    backbone: Backbone
    cache: FeatureCache
    parser: QueryParser

    @classmethod
    def load(cls) -> "Experiment":
        params = load_params()
        spec = FeatureSpec.from_params(params)
        backbone = spec.load_backbone().eval()
        for p in backbone.parameters():
            p.requires_grad_(False)
        cache = FeatureCache.open(CACHE_ROOT / spec.key(backbone))
        # Catalog names with "and" or commas in them ("fork and knife") must not be split.
        parser = QueryParser([o.name for o in load_catalog()])
        return cls(params, spec, backbone, cache, parser)

    def queries(self, split: str) -> QuerySet:
        return build_query_set(self.cache, split, load_manifest()[split], self.parser, self.backbone)

    @property
    def dim(self) -> int:
        return self.cache.image_embeddings.shape[1]
