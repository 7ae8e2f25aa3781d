"""Edit algebra on the training graph: reverses and compositions agree with the scenes, stay in their split, and
augmentation off changes nothing."""
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from pipeline.config.augment import AugmentConfig
from pipeline.config.section import load_section
from pipeline.config.tagger import TaggerConfig
from pipeline.data.phrasing import PLAIN_WORDING, Wording
from pipeline.data.synth import sample_split
from pipeline.training.augmentation import Edit, EditGraph, augment_queries
from pipeline.training.retriever import Retriever, train_retriever
from submission_src.fusion import FusionAdapter

CORPUS = load_section(TaggerConfig).corpus


@pytest.fixture(scope="module")
def train_split(default_synth_config):
    images, queries = sample_split("train", default_synth_config)
    return {name: Counter(scene.names) for name, (_, scene) in images.items()}, pd.DataFrame(queries)


def test_inverse_and_composition_cancel_objects():
    first = Edit("A", "B", ("dog",), ("cat",))
    second = Edit("A", "C", ("dog", "owl"), ("lamp",))
    assert first.inverse() == Edit("B", "A", ("cat",), ("dog",), "reverse")
    assert first.inverse().then(second) == Edit("B", "C", ("cat", "owl"), ("lamp",), "compose")  # dog cancels


def test_new_pairs_follow_the_scenes(train_split):
    """Every reversed or composed pair's target is its reference with exactly the objects its edit adds and
    without those it removes (the scene metadata of the synthetic training split)."""
    contents, frame = train_split
    graph = EditGraph.from_frame(frame)
    edits = graph.augmented(AugmentConfig(reverse=True, compose=2))
    new = edits[len(frame):]
    kinds = Counter(e.kind for e in new)
    assert kinds["reverse"] == len(frame) and kinds["compose"] >= len(frame)
    for edit in new:
        expected = contents[edit.reference] - Counter(edit.remove) + Counter(edit.add)
        assert expected == contents[edit.target], edit
        assert not Counter(edit.remove) - contents[edit.reference], edit  # removes only what is there
    assert len({(e.reference, e.target) for e in edits}) == len(edits)


def test_composition_skips_what_contradicts_the_known_contents():
    graph = EditGraph([Edit("A", "B", ("dog",), ("cat",)), Edit("A", "C", ("owl",), ())])
    assert not graph.consistent(Edit("B", "C", ("dog",), ()))  # B holds the dog already
    assert not graph.consistent(Edit("B", "C", (), ("cat",)))  # B lacks the cat
    assert not graph.consistent(Edit("B", "C", (), ()))  # no change asked
    assert graph.consistent(Edit("B", "C", ("cat", "owl"), ("dog",)))


def test_compose_count_per_triplet_is_bounded(train_split):
    _, frame = train_split
    graph = EditGraph.from_frame(frame)
    one = graph.compositions(1, np.random.default_rng(0))
    two = graph.compositions(2, np.random.default_rng(0))
    assert len(one) <= len(frame) < len(two) <= 2 * len(frame)


def test_augmented_query_set_stays_in_its_split_and_embeds_new_texts(tiny_queries):
    cache, queries, spec = tiny_queries
    backbone = spec.load_backbone().eval()
    augmented = augment_queries(queries, AugmentConfig(reverse=True, compose=2, varied_wording=1.0, seed=0),
                                CORPUS, backbone.encode_text)
    frame, old = augmented.frame, len(queries.frame)
    assert set(frame.query_image) | set(frame.target_image) <= set(queries.frame.query_image) | set(
        queries.frame.target_image)
    assert set(frame.reference_row) | set(frame.target_row) <= set(queries.reference_rows) | set(queries.target_rows)
    names = dict(zip(cache.images.row, cache.images.image))
    assert all(names[r].endswith(n) for r, n in zip(frame.reference_row, frame.query_image))
    assert (frame.kind.iloc[:old] == "original").all() and {"reverse", "compose"} <= set(frame.kind)
    assert frame.reworded.all() and (frame.query_text.iloc[:old] != queries.frame.query_text).any()
    with torch.no_grad():
        torch.testing.assert_close(augmented.texts, backbone.encode_text(frame.query_text.tolist()).float())
    torch.testing.assert_close(augmented.add[:old], queries.add)
    assert ((augmented.add.norm(dim=1) > 0).numpy() == (frame["add"].map(len) > 0).to_numpy()).all()
    plain = {t.split("{")[0] for _, _, t in Wording.load(PLAIN_WORDING).templates()}
    assert sum(not any(t.lower().startswith(p) for p in plain) for t in frame.query_text) > len(frame) / 2


def test_augmentation_off_reproduces_training(tiny_queries):
    cache, queries, spec = tiny_queries
    backbone = spec.load_backbone().eval()
    same = augment_queries(queries, AugmentConfig(seed=3), CORPUS, backbone.encode_text)
    histories = []
    for train in (queries, same):
        torch.manual_seed(0)
        retriever = Retriever(FusionAdapter(cache.image_embeddings.shape[1], 16))
        histories.append(train_retriever(retriever, cache, train, epochs=2, batch_size=8, lr=1e-3,
                                         weight_decay=0.0, seed=0, desc="off"))
    assert [h["loss"] for h in histories[0]] == [h["loss"] for h in histories[1]]
    on = augment_queries(queries, AugmentConfig(reverse=True, seed=3), CORPUS, backbone.encode_text)
    assert len(on.frame) > len(queries.frame)


def test_adapter_without_text_input_ignores_the_text():
    torch.manual_seed(0)
    adapter = FusionAdapter(16, 32, text=False)
    torch.nn.init.normal_(adapter.correction[-1].weight)
    image, add, remove, text = (F.normalize(torch.randn(4, 16), dim=-1) for _ in range(4))
    torch.testing.assert_close(adapter(image, add, remove, text), adapter(image, add, remove, -text))
    assert FusionAdapter.from_saved(adapter.saved()).config["text"] is False
