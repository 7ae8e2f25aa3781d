"""One training epoch from the cache vs the same epoch computing frozen features on the fly,
and the tail's epoch when its cached inputs do not fit host memory.

Measured in one run on one machine: the adapter on cached embeddings vs the backbone encoding every reference
and target image per batch; the tail on cached activations vs the full tower per batch. The on-the-fly epochs
are timed over their first batches and scaled to the epoch (query texts come from the cache in both). The tail's
cached epoch is timed whole twice: with its inputs resident, and streamed under a budget a quarter of their size.
Needs `make demo`'s feature cache; writes metrics/training_speed.json (part of `make ablations`).

Usage: python -m benchmarks.training_speed
"""
import json
from dataclasses import replace

import numpy as np
import torch

from pipeline.console import show_logs
from pipeline.measurement.benchmark_outputs import TRAINING_SPEED_METRICS
from pipeline.measurement.timing import TIMED_BATCHES, LiveFeatures, epoch_seconds
from pipeline.paths import METRICS
from pipeline.training.batches import WindowStream, streamed_epochs
from pipeline.training.experiment import Experiment
from pipeline.training.feature_store import row_bytes

STREAMED_SHARE = 0.25  # the budget of the streamed epoch, as a share of the tail inputs' size


def main() -> None:
    show_logs()
    experiment = Experiment.load()
    queries = experiment.queries("train")
    cache = experiment.cache
    cache.tail_inputs(queries.reference_rows[:1])  # the one-time read of the store stays out of the timing
    batch_size = experiment.settings.tail.batch_size
    budget = max(int(STREAMED_SHARE * cache.tail_bytes),
                 WindowStream.least_budget(cache.tail_array, batch_size))
    streamed = replace(cache, memory_bytes=budget, _resident_tail=None)  # the same store, a smaller budget
    live = LiveFeatures(experiment.backbone.to(experiment.device), cache.images.path.to_numpy(),
                        experiment.spec.tail_blocks)
    speed = {
        "adapter_epoch_s_cached": epoch_seconds(experiment, cache, queries, False, None),
        "adapter_epoch_s_backbone": epoch_seconds(experiment, live, queries, False, TIMED_BATCHES),
        "tail_epoch_s_cached": epoch_seconds(experiment, cache, queries, True, None),
        "tail_epoch_s_full": epoch_seconds(experiment, live, queries, True, TIMED_BATCHES),
    }
    speed["adapter_speedup"] = speed["adapter_epoch_s_backbone"] / speed["adapter_epoch_s_cached"]
    speed["tail_speedup"] = speed["tail_epoch_s_full"] / speed["tail_epoch_s_cached"]
    tail = cache.tail_array
    speed["tail_inputs"] = {"images": tail.shape[0], "dtype": str(tail.dtype), "bytes_per_image": row_bytes(tail),
                            "stored_bytes_per_image": tail.nbytes_stored() / tail.shape[0]}
    if not streamed.tail_resident:  # else the store is too small to stream
        window_rows = WindowStream.rows_within(tail, budget, batch_size)
        windows = streamed_epochs(queries, window_rows, batch_size, np.random.default_rng(0))[0]
        speed["tail_epoch_s_streamed"] = epoch_seconds(experiment, streamed, queries, True, None)
        speed["streamed_over_resident"] = speed["tail_epoch_s_streamed"] / speed["tail_epoch_s_cached"]
        speed["tail_inputs"].update(streamed_budget_bytes=budget, streamed_window_rows=window_rows,
                                    streamed_windows_per_epoch=len(windows))
    speed["device"] = experiment.device
    speed["torch_threads"] = torch.get_num_threads()
    METRICS.mkdir(exist_ok=True)
    TRAINING_SPEED_METRICS.write_text(json.dumps(speed, indent=2) + "\n")
    print(json.dumps(speed, indent=2))


if __name__ == "__main__":
    main()
