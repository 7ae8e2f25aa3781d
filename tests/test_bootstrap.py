import math

import torch

from pipeline.config.bootstrap import BootstrapConfig
from pipeline.data.catalog import load_catalog
from pipeline.training.bootstrap import SceneStream, multi_positive_loss, object_recall_at_k, train_bootstrap
from submission_src.backbone import Backbone
from submission_src.phrases import object_phrase

TINY_RESNET = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": [1, 1, 1, 1], "width": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def _config(**overrides) -> BootstrapConfig:
    base = dict(steps=12, batch_size=8, lr=3e-3, warmup_steps=2, weight_decay=0.0, text_batch=64, logit_scale=20.0,
                seed=0, render_workers=0, eval_every=4, data_seed=0, held_out_pair_fraction=0.15)
    return BootstrapConfig(**{**base, **overrides})


def test_multi_positive_loss_sets_each_positive_against_negatives_only():
    logits = torch.tensor([[2.0, 1.0, 0.0]])
    positives = torch.tensor([[True, True, False]])
    # positive 0 vs negative 2, positive 1 vs negative 2: the other positive is not a competitor
    expected = (-math.log(math.exp(2) / (math.exp(2) + 1)) - math.log(math.exp(1) / (math.exp(1) + 1))) / 2
    assert math.isclose(multi_positive_loss(logits, positives).item(), expected, rel_tol=1e-6)


def test_object_recall_at_k():
    phrases = torch.eye(4)
    images = torch.tensor([[1.0, 0.9, 0, 0], [0, 0, 1.0, 0.1]])
    assert object_recall_at_k(images, phrases, [[0, 1], [3, 1]]) == (1.0 + 0.5) / 2


def test_scene_stream_labels_match_scene_sizes():
    stream = iter(SceneStream(_config(), 64, (0.5,) * 3, (0.25,) * 3))
    pixels, labels = next(stream)
    assert pixels.shape == (8, 3, 64, 64)
    assert ((labels.sum(1) >= 2) & (labels.sum(1) <= 5)).all()


def test_bootstrap_training_aligns_the_text_tower():
    torch.manual_seed(0)
    backbone = Backbone.create(TINY_RESNET)
    phrases = [object_phrase(o.name) for o in load_catalog()]
    history = train_bootstrap(backbone.clip, backbone.tokenizer, phrases, _config())
    assert history[-1]["text_loss"] < 0.8 * history[0]["text_loss"]
    assert all(math.isfinite(h["image_loss"]) for h in history)
