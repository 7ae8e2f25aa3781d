"""The extraction's parts, each with fakes: the store's writer and reader without a model, the mapper with a fake
backbone."""
import numpy as np
import pandas as pd
import pytest
import torch

from pipeline.training.feature_store import STORE_NAME, FeatureCache, StoreWriter
from pipeline.training.features import encode_images

IMAGES, TEXTS, DIM, SHAPE = 10, 3, 4, (2, 3)


def rows_of(chunk: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Tail inputs and embeddings whose values say which row they belong to."""
    rows = np.arange(chunk * 4, chunk * 4 + size, dtype=np.float32)
    return (np.broadcast_to(rows[:, None, None], (size, *SHAPE)).astype(np.float16),
            np.broadcast_to(rows[:, None], (size, DIM)).copy())


def test_the_writer_resumes_at_unmarked_chunks_and_publishes_by_one_rename(tmp_path):
    writer = StoreWriter(tmp_path, chunk=4)
    assert not writer.resumable
    writer.create(IMAGES, TEXTS, DIM, SHAPE, np.float32, {"model": "fake"})
    writer.open()
    assert writer.pending() == [0, 1, 2] and writer.pending(rank=1, world_size=2) == [1]
    assert writer.rows([2]) == [8, 9]  # the last chunk holds what is left
    writer.write_chunk(2, *rows_of(2, 2))
    writer.write_chunk(0, *rows_of(0, 4))

    resumed = StoreWriter(tmp_path, chunk=4)  # another process, after a kill
    assert resumed.resumable
    resumed.open()
    assert resumed.pending() == [1]
    resumed.write_chunk(1, *rows_of(1, 4))
    resumed.write_texts(0, np.ones((TEXTS, DIM), np.float32))
    assert not (tmp_path / STORE_NAME).exists()  # nothing a reader could open half written
    images = pd.DataFrame({"path": [f"{i}.png" for i in range(IMAGES)], "row": range(IMAGES)})
    texts = pd.DataFrame({"text": ["a", "b", "c"], "row": range(TEXTS)})
    assert resumed.publish(images, texts) == tmp_path / STORE_NAME
    assert not resumed.partial.exists() and not resumed.done_dir.exists()

    cache = FeatureCache.open(tmp_path)
    np.testing.assert_array_equal(cache.image_embeddings[:, 0].numpy(), np.arange(IMAGES))
    np.testing.assert_array_equal(cache.tail_inputs(np.array([9, 0, 5]))[:, 0, 0].numpy(), [9, 0, 5])
    frames = cache.frames()
    assert list(frames[0].path) == list(images.path) and frames[1].embedding.iloc[2].tolist() == [1.0] * DIM


def test_a_new_store_replaces_a_partial_one(tmp_path):
    writer = StoreWriter(tmp_path, chunk=4)
    writer.create(IMAGES, TEXTS, DIM, SHAPE, np.float32, {})
    writer.open()
    writer.write_chunk(0, *rows_of(0, 4))
    writer.create(IMAGES, TEXTS, DIM, SHAPE, np.float32, {})
    writer.open()
    assert writer.pending() == [0, 1, 2]


class FakeBackbone(torch.nn.Module):
    """Trunk scales the pixels; the tail sums them per image into a two-dimensional embedding."""

    def __init__(self, scale: float):
        super().__init__()
        self.scale = scale

    def trunk(self, pixels, tail_blocks):
        return pixels * self.scale

    def tail(self, activations, tail_blocks):
        total = activations.flatten(1).sum(1, keepdim=True)
        return torch.cat([total, torch.ones_like(total)], dim=1)


def test_the_mapper_returns_fp16_inputs_and_unit_embeddings():
    pixels = torch.full((3, 1, 2, 2), 0.5)
    tail_inputs, embeddings = encode_images(FakeBackbone(2.0), pixels, 1, ["a", "b", "c"])
    assert tail_inputs.dtype == np.float16 and tail_inputs.shape == (3, 1, 2, 2) and (tail_inputs == 1).all()
    torch.testing.assert_close(embeddings.norm(dim=1), torch.ones(3))


def test_the_mapper_names_the_images_whose_activations_fp16_cannot_hold():
    with pytest.raises(ValueError, match=r"reach 1e\+06 in a … c, beyond fp16's 65504"):
        encode_images(FakeBackbone(2e6), torch.full((3, 1, 2, 2), 0.5), 1, ["a", "b", "c"])
