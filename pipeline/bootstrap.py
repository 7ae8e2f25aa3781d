"""Pretrains the small `bootstrap` CLIP on freshly composed synthetic training scenes.

A fixed set of captioned scenes gets memorised rather than understood, so every step draws new scenes (train
distribution only: held-out pairs never appear). The vision tower learns objects through a multi-positive
softmax against a learned per-object table; the text tower learns to map each object phrase onto that table
with open_clip's ClipLoss, so that at the end "a photo of a guitar" lands near images that contain a guitar.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from open_clip.loss import ClipLoss
from torch import nn
from torch.utils.data import DataLoader, IterableDataset, get_worker_info
from tqdm import tqdm

from pipeline.catalog import load_catalog
from pipeline.render import render
from pipeline.scenes import SceneConfig, SceneSampler, held_out_pairs
from submission_src.images import load_rgb
from submission_src.phrases import object_phrase

log = logging.getLogger(__name__)
PRETRAINING_STYLE = "noto"  # the backbone's "web": it never sees the challenge splits' OpenMoji drawings


@dataclass(frozen=True)
class BootstrapConfig:
    steps: int
    batch_size: int
    lr: float
    warmup_steps: int
    weight_decay: float
    text_batch: int
    logit_scale: float
    seed: int
    render_workers: int
    data_seed: int
    held_out_pair_fraction: float


class SceneStream(IterableDataset):
    """Endless batches of new training scenes, rendered at the model's input size, with multi-hot labels."""

    def __init__(self, config: BootstrapConfig, image_size: int, mean, std):
        self.config, self.image_size = config, image_size
        self.mean = torch.tensor(mean).view(3, 1, 1)
        self.std = torch.tensor(std).view(3, 1, 1)

    def __iter__(self):
        worker = get_worker_info()
        catalog = load_catalog()
        rng = np.random.default_rng([self.config.seed, worker.id if worker else 0])
        forbidden = held_out_pairs(len(catalog), self.config.held_out_pair_fraction, self.config.data_seed)
        sampler = SceneSampler(catalog, rng, SceneConfig(), forbidden=forbidden)
        index = {o.name: o.index for o in catalog}
        while True:
            pixels = torch.empty(self.config.batch_size, 3, self.image_size, self.image_size)
            labels = torch.zeros(self.config.batch_size, len(catalog), dtype=torch.bool)
            for i in range(self.config.batch_size):
                scene = sampler.reference()
                array = np.asarray(render(scene, self.image_size, PRETRAINING_STYLE), dtype=np.float32) / 255
                pixels[i] = (torch.from_numpy(array).permute(2, 0, 1) - self.mean) / self.std
                labels[i, [index[n] for n in scene.names]] = True
            yield pixels, labels


def multi_positive_loss(logits: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """Mean over every (image, present object) of a softmax that sets that object against absent ones only."""
    negatives_lse = torch.logsumexp(logits.masked_fill(positives, float("-inf")), dim=1, keepdim=True)
    per_positive = torch.logaddexp(logits, negatives_lse) - logits
    return per_positive[positives].mean()


def _lr_at(step: int, config: BootstrapConfig) -> float:
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def train_bootstrap(model: nn.Module, tokenize, phrases: list[str], config: BootstrapConfig,
                    evaluate=None, eval_every: int = 0, device: str = "cpu",
                    on_step: Callable[[dict], None] | None = None) -> list[dict]:
    """Trains `model` (an open_clip CLIP) in place; returns the per-step history (losses, lr, evaluations), each
    row also given to `on_step` as soon as it is made."""
    torch.manual_seed(config.seed)
    n_objects = len(phrases)
    model.to(device)
    table = nn.Parameter(torch.randn(n_objects, model.text_projection.shape[1], device=device) * 0.02)
    params = [*model.parameters(), table]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=config.lr)
    clip_loss = ClipLoss()
    phrase_tokens = tokenize(phrases).to(device)
    preprocess = model.visual.preprocess_cfg
    stream = DataLoader(SceneStream(config, preprocess["size"], preprocess["mean"], preprocess["std"]),
                        batch_size=None, num_workers=config.render_workers,
                        persistent_workers=config.render_workers > 0,
                        prefetch_factor=4 if config.render_workers else None)
    # Channels-last convolutions run about a third faster on CPU.
    model.to(memory_format=torch.channels_last)
    history = []
    model.train()
    started = time.time()
    batches = iter(stream)
    for step in tqdm(range(config.steps), desc="bootstrap", unit="step"):
        pixels, labels = (t.to(device, non_blocking=True) for t in next(batches))
        for group in optimizer.param_groups:
            group["lr"] = _lr_at(step, config)
        # bfloat16 autocast: CPUs with AMX/AVX-512 BF16 train about 1.4x faster; others just fall back.
        with torch.autocast(device.split(":")[0], dtype=torch.bfloat16):
            image = model.encode_image(pixels.contiguous(memory_format=torch.channels_last))
            chosen = torch.randperm(n_objects, device=device)[: config.text_batch]
            text = model.encode_text(phrase_tokens[chosen])
        image, text = F.normalize(image.float(), dim=-1), F.normalize(text.float(), dim=-1)
        object_table = F.normalize(table, dim=-1)
        image_loss = multi_positive_loss(config.logit_scale * image @ object_table.T, labels)
        text_loss = clip_loss(text, object_table[chosen], config.logit_scale)
        loss = image_loss + text_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        record = {"step": step, "image_loss": image_loss.item(), "text_loss": text_loss.item(),
                  "lr": optimizer.param_groups[0]["lr"], "seconds": time.time() - started}
        if evaluate and eval_every and ((step + 1) % eval_every == 0 or step + 1 == config.steps):
            model.eval()
            record.update(evaluate(model))
            model.train()
            log.info("%s", {k: round(v, 4) if isinstance(v, float) else v for k, v in record.items()})
        history.append(record)
        if on_step:
            on_step(record)
    model.eval()
    return history


@torch.no_grad()
def object_recall_at_k(image_embeddings: torch.Tensor, phrase_embeddings: torch.Tensor,
                       objects: list[list[int]]) -> float:
    """For each image with k objects, the share of them among its top-k phrases; averaged over images."""
    similarity = F.normalize(image_embeddings, dim=-1) @ F.normalize(phrase_embeddings, dim=-1).T
    recalls = []
    for row, present in zip(similarity, objects):
        top = set(row.topk(len(present)).indices.tolist())
        recalls.append(len(top & set(present)) / len(present))
    return float(np.mean(recalls))


@torch.no_grad()
def scene_recall(backbone, scenes: pd.DataFrame, images_dir: Path, batch_size: int = 256) -> float:
    """Zero-shot object recall@k of `backbone` on rendered scenes, against the phrases of the whole catalog."""
    catalog = load_catalog()
    index = {o.name: o.index for o in catalog}
    phrases = backbone.encode_text([object_phrase(o.name) for o in catalog])
    embeddings = []
    for start in range(0, len(scenes), batch_size):
        names = scenes.image.iloc[start: start + batch_size]
        pixels = torch.stack([backbone.preprocess(load_rgb(str(images_dir / n))[0]) for n in names])
        embeddings.append(backbone.encode_image(pixels))
    objects = [[index[n] for n in names] for names in scenes.objects]
    return object_recall_at_k(torch.cat(embeddings), phrases, objects)
