"""Where training computes in bfloat16: only where the hardware does, one rule for every trainer here."""
from __future__ import annotations

import torch


def bf16_autocast(device: torch.device | str, enabled: bool = True) -> torch.autocast:
    """bfloat16 autocast on CUDA, or on a CPU with AVX-512 BF16 or AMX (about 1.4x faster there). A CPU without
    them runs bf16 convolutions through torch's slow reference path (a tail batch 28 s instead of 1.5 s in fp32
    on a 2-core AVX2 EPYC), so there training stays in fp32."""
    kind = torch.device(device).type
    native = kind == "cuda" or (kind == "cpu" and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return torch.autocast(kind, dtype=torch.bfloat16, enabled=enabled and native)
