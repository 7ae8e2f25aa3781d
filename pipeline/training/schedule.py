"""The learning-rate schedule of every trainer here: one cycle (warm-up, then cosine decay), for any step count."""
from __future__ import annotations

import torch


def one_cycle(optimizer: torch.optim.Optimizer, max_lr: float | list[float], total_steps: int,
              pct_start: float) -> torch.optim.lr_scheduler.OneCycleLR:
    """torch's OneCycleLR over `total_steps` (`max_lr`: one per parameter group, or one for all), warming up
    for `pct_start` of them. A warm-up of exactly one step divides by zero inside torch (10 steps at 0.1, 20 at
    0.05: the schedule of a small training split), so such a warm-up takes two steps instead; every other
    schedule is torch's own."""
    if total_steps < 1:
        raise ValueError("no training steps: the training split holds no batch")
    if total_steps > 2 and abs(pct_start * total_steps - 1) < 1e-9:
        pct_start = 2 / total_steps
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=total_steps,
                                               pct_start=pct_start)
