"""Pretrains the small `bootstrap` CLIP on freshly composed scenes of its "web": flat 2D emoji by several
artists, seen through the augmentations web photos bring (scale, crop, colour, blur, grey).

It stands in for a web-pretrained CLIP, so it never sees the challenge splits: not their 3D renders, not their
scenes (it knows nothing of the data stage). A fixed set of captioned scenes gets memorised rather than
understood, so every step draws new scenes (held-out object pairs never appear). The vision tower learns objects
through a multi-positive softmax against a learned per-object table; the text tower learns to map each object
phrase onto that table with open_clip's ClipLoss, so that at the end "a photo of a guitar" lands near images
that contain a guitar.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from open_clip.loss import ClipLoss
from torch import nn
from torch.utils.data import DataLoader, IterableDataset, get_worker_info
from torchvision.transforms import v2
from tqdm import tqdm

from pipeline.config.bootstrap import BootstrapConfig
from pipeline.config.scenes import SceneConfig
from pipeline.data.catalog import load_catalog
from pipeline.data.render import render
from pipeline.data.scenes import SceneSampler, held_out_pairs
from pipeline.ranking import object_recall_at_k
from pipeline.training.precision import bf16_autocast

log = logging.getLogger(__name__)
WEB_ARTISTS = ("noto", "openmoji", "twemoji")  # the backbone's web: flat drawings, never the 3D renders
# Scenes of the web: objects of several sizes, on floors with a little pattern; the lighting comes from the
# photometric augmentations.
WEB_SCENES = SceneConfig(min_size=0.18, max_size=0.34, max_texture=0.1)
HELD_OUT_SCENES = 128  # per web artist: the bootstrap's own held-out recall


def web_augmentation(image_size: int) -> v2.Compose:
    """What a web photo of an object goes through: framing, scale, colour, focus, grey; on a float image."""
    return v2.Compose([
        v2.RandomResizedCrop(image_size, scale=(0.9, 1.0), ratio=(0.95, 1.05), antialias=True),
        v2.RandomApply([v2.ColorJitter(0.2, 0.2, 0.2, 0.02)], p=0.5),
        v2.RandomApply([v2.GaussianBlur(3, sigma=(0.1, 1.0))], p=0.2),
        v2.RandomGrayscale(p=0.05),
    ])


def _pixels(image, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    return (torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1) - mean) / std


class SceneStream(IterableDataset):
    """Endless batches of new web scenes, each by a random web artist, augmented at the model's input size,
    with multi-hot labels."""

    def __init__(self, config: BootstrapConfig, image_size: int, mean, std):
        self.config, self.image_size = config, image_size
        self.mean = torch.tensor(mean).view(3, 1, 1)
        self.std = torch.tensor(std).view(3, 1, 1)

    def __iter__(self):
        worker = get_worker_info()
        catalog = load_catalog()
        rng = np.random.default_rng([self.config.seed, worker.id if worker else 0])
        forbidden = held_out_pairs(len(catalog), self.config.held_out_pair_fraction, self.config.data_seed)
        sampler = SceneSampler(catalog, rng, WEB_SCENES, forbidden=forbidden)
        index = {o.name: o.index for o in catalog}
        augment = web_augmentation(self.image_size)
        # Drawn a little larger than the input, so that a crop keeps detail.
        drawn_size = round(self.image_size * 1.25)
        while True:
            pixels = torch.empty(self.config.batch_size, 3, self.image_size, self.image_size)
            labels = torch.zeros(self.config.batch_size, len(catalog), dtype=torch.bool)
            for i in range(self.config.batch_size):
                scene = sampler.reference()
                artist = WEB_ARTISTS[rng.integers(len(WEB_ARTISTS))]
                image = torch.from_numpy(np.asarray(render(scene, drawn_size, artist), dtype=np.float32) / 255)
                pixels[i] = (augment(image.permute(2, 0, 1)) - self.mean) / self.std
                labels[i, [index[n] for n in scene.names]] = True
            yield pixels, labels


@dataclass(frozen=True)
class HeldOutScenes:
    """Fixed web scenes no training step draws (their own seed), per artist, unaugmented: the bootstrap's own
    measure of what it learned."""

    pixels: dict[str, torch.Tensor]  # artist -> (n, 3, size, size), normalised for the model
    objects: list[list[int]]  # catalog indices per scene, the same scenes in every artist

    @classmethod
    def draw(cls, config: BootstrapConfig, image_size: int, mean, std, count: int = HELD_OUT_SCENES):
        catalog = load_catalog()
        forbidden = held_out_pairs(len(catalog), config.held_out_pair_fraction, config.data_seed)
        sampler = SceneSampler(catalog, np.random.default_rng([config.seed, 4242]), WEB_SCENES, forbidden=forbidden)
        scenes = [sampler.reference() for _ in range(count)]
        mean, std = torch.tensor(mean).view(3, 1, 1), torch.tensor(std).view(3, 1, 1)
        pixels = {artist: torch.stack([_pixels(render(s, image_size, artist), mean, std) for s in scenes])
                  for artist in WEB_ARTISTS}
        index = {o.name: o.index for o in catalog}
        return cls(pixels, [[index[n] for n in s.names] for s in scenes])

    @torch.no_grad()
    def recall(self, model: nn.Module, phrase_tokens: torch.Tensor, device: str) -> dict[str, float]:
        """Object recall@k of `model` per web artist, against the phrases of the whole catalog."""
        phrases = model.encode_text(phrase_tokens.to(device)).float()
        return {artist: object_recall_at_k(model.encode_image(pixels.to(device)).float(), phrases, self.objects)
                for artist, pixels in self.pixels.items()}


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
                    evaluate: Callable[[nn.Module], dict] | None = None, eval_every: int = 0, device: str = "cpu",
                    on_step: Callable[[dict], None] | None = None) -> list[dict]:
    """Trains `model` (an open_clip CLIP) in place; returns the per-step history (losses, lr, and every
    `eval_every` steps what `evaluate(model)` says), each row also given to `on_step` as soon as it is made."""
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
        with bf16_autocast(device):
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
