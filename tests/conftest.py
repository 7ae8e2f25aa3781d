import json
from dataclasses import replace

import pytest
import torch

from pipeline.config.data import SynthConfig
from pipeline.config.features import FeatureSpec
from pipeline.config.section import load_section
from pipeline.config.tagger import TaggerConfig
from pipeline.data.dataset import SplitSource
from pipeline.data.synth import write_split
from pipeline.shipping.package import Shipment, build_repo
from pipeline.training.feature_store import FeatureCache
from pipeline.training.features import extract, image_table, text_table
from pipeline.training.retriever import build_query_set
from submission_src.fusion import FusionAdapter


@pytest.fixture(scope="session")
def default_synth_config() -> SynthConfig:
    return load_section(SynthConfig)


@pytest.fixture(scope="session")
def small_config() -> SynthConfig:
    return SynthConfig(seed=3, image_size=96, references={"train": 24, "val": 6, "test": 24},
                       edits_per_reference=(2, 3), held_out_pair_fraction=0.15, artist="fluent3d",
                       references_per_target=(1, 2), workers=2)


@pytest.fixture(scope="session")
def small_split(tmp_path_factory, small_config):
    """A rendered test split in the challenge format (small images, for speed)."""
    out = tmp_path_factory.mktemp("synth") / "test"
    write_split(out, "test", small_config)
    return out


TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "head_width": 16, "patch_size": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, small_split):
    """A tiny random CLIP (config + weights on disk) and the small split as a one-split source."""
    folder = tmp_path_factory.mktemp("tiny")
    (folder / "tiny.json").write_text(json.dumps(TINY_CLIP))
    torch.manual_seed(0)
    spec = FeatureSpec(str(folder / "tiny.json"), None, tail_blocks=1)
    torch.save(spec.load_backbone().clip.state_dict(), folder / "weights.pt")
    spec = FeatureSpec(str(folder / "tiny.json"), str(folder / "weights.pt"), tail_blocks=1)
    splits = {"test": SplitSource(str(small_split / "data.csv"), str(small_split / "images"))}
    return folder, spec, splits


@pytest.fixture(scope="session")
def tagger_config():
    """The params' tagger recipe, shrunk to train in seconds (quality is measured by the pipeline, not here)."""
    config = load_section(TaggerConfig)
    return replace(config, steps=400, batch_size=32, buckets=1 << 14, dim=32, hidden=64, layers=1)


@pytest.fixture(scope="session")
def trained_tagger(tagger_config, tmp_path_factory):
    """(tagger, path of its saved file), trained on the training wording files."""
    from pipeline.training.tagging import train_tagger, validation_phrases

    tagger, _ = train_tagger(tagger_config, {"val": validation_phrases(tagger_config, 50)},
                             log_every=tagger_config.steps)
    path = tmp_path_factory.mktemp("tagger") / "tagger.pt"
    torch.save(tagger.saved(), path)
    return tagger, path


@pytest.fixture(scope="module")
def tiny_queries(tiny, tmp_path_factory, trained_tagger):
    """The tiny split's cache (chunks of 16 images) and its test queries."""
    folder, spec, splits = tiny
    out = tmp_path_factory.mktemp("cache")
    backbone = spec.load_backbone().eval()
    extract(backbone, spec, image_table(splits), text_table(splits), out, chunk=16, workers=0)
    cache = FeatureCache.open(out)
    return cache, build_query_set(cache, splits["test"], trained_tagger[0], backbone), spec


@pytest.fixture(scope="module")
def repo(tiny, tmp_path_factory, trained_tagger):
    """The judge's repo built from the tiny CLIP and the tagger, shipping an untrained adapter (the arithmetic rule)."""
    folder, spec, _ = tiny
    shipment = Shipment("adapter_tail", "a test", FusionAdapter(32, 16).saved(), {}, 1)
    metrics = {s: {"adapter_tail": {"top1": 0.5}} for s in ("val", "test")}
    return build_repo(tmp_path_factory.mktemp("dist") / "hf_repo", spec, shipment, trained_tagger[0].saved(), metrics,
                      {})
