import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from pipeline.measurement.evaluation import embed_all, rank_queries
from pipeline.training.baselines import Combiner
from pipeline.training.batches import linked_order, reference_group_batches
from pipeline.training.experiment import interpolate, norm_parameters
from pipeline.training.precision import bf16_autocast
from pipeline.training.retriever import (
    NegativeMemory,
    QuerySet,
    Retriever,
    contrastive_loss,
    object_alignment_loss,
    train_retriever,
)
from submission_src.fusion import FusionAdapter


def test_adapter_starts_as_the_arithmetic_rule():
    torch.manual_seed(0)
    image, add, remove, text = (F.normalize(torch.randn(5, 16), dim=-1) for _ in range(4))
    expected = F.normalize(image + add - remove, dim=-1)
    torch.testing.assert_close(FusionAdapter(16, 32)(image, add, remove, text), expected)


def test_a_text_without_objects_queries_the_reference_image():
    torch.manual_seed(0)
    adapter = FusionAdapter(16, 32)
    torch.nn.init.normal_(adapter.correction[-1].weight)  # a trained correction: nonzero for any text
    image, add, remove, text = (F.normalize(torch.randn(3, 16), dim=-1) for _ in range(4))
    add[0], remove[0] = 0, 0
    query = adapter(image, add, remove, text)
    torch.testing.assert_close(query[0], image[0])
    assert not torch.allclose(query[1:], image[1:])


def test_rank_queries_follows_the_judge():
    database = torch.eye(4)
    queries = torch.tensor([[1.0, 0.2, 0, 0], [0.9, 0.5, 0, 0], [0, 0, 0, 1.0]])
    ranks, top = rank_queries(queries, database, np.array([10, 11, 12, 13]), np.array([10, 10, 12]), top=2)
    assert ranks.tolist() == [0, 0, 1]  # ties do not count against the target
    assert top[2].tolist()[0] == 13


def test_batches_keep_siblings_together(tiny_queries):
    _, queries, _ = tiny_queries
    batches = reference_group_batches(queries, 8, np.random.default_rng(0))
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(queries.frame)))
    owner = {}
    for b, batch in enumerate(batches):
        for reference in queries.frame.query_image.iloc[batch]:
            assert owner.setdefault(reference, b) == b


def test_linked_batches_keep_siblings_together_and_pass_fewer_images(tiny_queries):
    _, queries, _ = tiny_queries
    def passes(batches):
        return sum(len(np.unique(np.concatenate([queries.reference_rows[b], queries.target_rows[b]])))
                   for b in batches)
    shuffled, linked = (reference_group_batches(queries, 8, np.random.default_rng(0), linked) for linked in (0, 1))
    assert sorted(np.concatenate(linked).tolist()) == list(range(len(queries.frame)))
    owner = {}
    for b, batch in enumerate(linked):
        for reference in queries.frame.query_image.iloc[batch]:
            assert owner.setdefault(reference, b) == b
    assert passes(linked) < passes(shuffled)


def test_linked_order_walks_each_family_of_linked_groups_as_one_run():
    # groups 0-1-2 share images in a chain, 3-4 share one, 5 stands alone
    rows = [np.array(r) for r in ([0, 1], [1, 2], [2, 3], [10, 11], [11, 12], [20, 21])]
    family = {0: "a", 1: "a", 2: "a", 3: "b", 4: "b", 5: "c"}
    orders = [linked_order(rows, np.random.default_rng(seed)) for seed in range(6)]
    for order in orders:
        assert sorted(order) == list(range(6))
        runs = [family[g] for g in order]
        assert len([f for i, f in enumerate(runs) if i == 0 or runs[i - 1] != f]) == 3
    assert len({tuple(order) for order in orders}) > 1  # a different walk each epoch


def test_query_set_sums_parsed_phrases(tiny_queries):
    _, queries, _ = tiny_queries
    n_add = queries.frame["add"].map(len).to_numpy()
    assert ((queries.add.norm(dim=1) > 0).numpy() == (n_add > 0)).all()


def test_training_lowers_the_loss_and_embeds_the_database(tiny_queries):
    cache, queries, _ = tiny_queries
    retriever = Retriever(Combiner(cache.image_embeddings.shape[1], 32, 64))
    history = train_retriever(retriever, cache, queries, epochs=6, batch_size=16, lr=3e-3, weight_decay=0.0,
                              seed=0, desc="test")
    assert history[-1]["loss"] < history[0]["loss"]
    query, database, rows = embed_all(retriever, cache, queries)
    assert query.shape == (len(queries.frame), database.shape[1]) and len(rows) == queries.frame.target_image.nunique()


def test_tail_training_changes_only_the_tail(tiny_queries):
    cache, queries, spec = tiny_queries
    backbone = spec.load_backbone().eval()
    for p in backbone.parameters():
        p.requires_grad_(False)
    tail = backbone.tail_parameters(1)
    for p in tail.values():
        p.requires_grad_(True)
    before = {n: p.detach().clone() for n, p in backbone.clip.named_parameters()}
    retriever = Retriever(FusionAdapter(cache.image_embeddings.shape[1], 16), backbone, 1)
    train_retriever(retriever, cache, queries, epochs=1, batch_size=16, lr=1e-2, weight_decay=0.0, seed=0,
                    desc="tail")
    changed = {n for n, p in backbone.clip.named_parameters() if not torch.equal(p, before[n])}
    assert changed and changed <= set(tail)


def test_a_batchs_images_pass_the_tail_once_with_the_same_embeddings_and_gradients(tiny_queries, monkeypatch):
    cache, queries, spec = tiny_queries
    backbone = spec.load_backbone().eval()
    retriever = Retriever(FusionAdapter(cache.image_embeddings.shape[1], 16), backbone, 1)
    index = np.arange(len(queries.frame))
    assert len(np.unique(queries.reference_rows[index])) < len(index)  # siblings share their reference
    passed, tail = [], backbone.tail
    monkeypatch.setattr(backbone, "tail", lambda inputs, k: passed.append(len(inputs)) or tail(inputs, k))
    weights = backbone.tail_parameters(1)

    def embeddings_and_gradient(embed):
        passed.clear()
        reference, target = embed()
        (reference * target).sum().backward()
        gradient = torch.cat([p.grad.flatten() for p in weights.values()])
        retriever.zero_grad()
        return reference.detach(), target.detach(), gradient, sum(passed)

    *separately, passed_separately = embeddings_and_gradient(
        lambda: (retriever.embed_images(cache, queries.reference_rows[index]),
                 retriever.embed_images(cache, queries.target_rows[index])))
    *once, passed_once = embeddings_and_gradient(lambda: retriever.embed_references_and_targets(cache, queries, index))
    distinct = len(np.unique(np.concatenate([queries.reference_rows[index], queries.target_rows[index]])))
    assert passed_separately == 2 * len(index) and passed_once == distinct < 2 * len(index)
    for a, b in zip(separately, once):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_a_share_of_reference_groups_keeps_siblings_together(tiny_queries):
    _, queries, _ = tiny_queries
    half = queries.reference_groups(0.5, seed=0)
    groups = queries.frame.groupby("query_image").size()
    chosen = half.frame.query_image.unique()
    assert len(chosen) == round(0.5 * len(groups))
    assert len(half.frame) == groups[chosen].sum()  # every sibling of a chosen reference, no other query
    assert half.add.shape[0] == half.texts.shape[0] == len(half.frame)
    again = queries.reference_groups(0.5, seed=0)
    assert again.frame.equals(half.frame) and torch.equal(again.add, half.add)
    row = queries.frame.index[queries.frame.query_image == chosen[0]][0]
    torch.testing.assert_close(half.add[half.frame.query_image.to_numpy() == chosen[0]][0], queries.add[row])


def test_device_auto_is_the_cpu_here_and_a_missing_gpu_is_named(monkeypatch):
    from pipeline.params import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu" and resolve_device("cpu") == "cpu"
    with pytest.raises(SystemExit, match="no GPU"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"


@pytest.mark.parametrize("native", [False, True])
def test_the_tail_trains_in_bf16_only_where_the_cpu_computes_in_it(native, monkeypatch):
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: native)
    cpu = torch.device("cpu")
    with bf16_autocast(cpu):
        product = torch.ones(2, 2) @ torch.ones(2, 2)
    assert product.dtype == (torch.bfloat16 if native else torch.float32)
    with bf16_autocast(cpu, enabled=False):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def test_every_small_schedule_runs_and_others_stay_torchs_own():
    """A small training split makes a schedule of a few steps; torch's OneCycleLR divides by zero on a warm-up
    of exactly one (10 steps at pct_start 0.1: what crashed a 600-triplet folder)."""
    from pipeline.training.schedule import one_cycle

    def lrs(total, pct, make):
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
        scheduler = make(optimizer, total, pct)
        rates = []
        for _ in range(total):
            optimizer.step()
            scheduler.step()
            rates.append(optimizer.param_groups[0]["lr"])
        return rates

    ours = lambda o, total, pct: one_cycle(o, 1e-3, total, pct)  # noqa: E731
    theirs = lambda o, total, pct: torch.optim.lr_scheduler.OneCycleLR(o, 1e-3, total_steps=total, pct_start=pct)  # noqa: E731
    for pct in (0.1, 0.05):
        for total in range(1, 60):
            rates = lrs(total, pct, ours)
            assert len(rates) == total and all(0 <= r <= 1e-3 for r in rates), (pct, total)
    assert lrs(11, 0.1, ours) == lrs(11, 0.1, theirs) and lrs(1200, 0.05, ours) == lrs(1200, 0.05, theirs)
    with pytest.raises(ZeroDivisionError):
        lrs(10, 0.1, theirs)
    with pytest.raises(ValueError, match="no training steps"):
        one_cycle(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3), 1e-3, 0, 0.1)


def test_a_target_two_queries_reach_is_no_negative_for_either():
    torch.manual_seed(0)
    targets, references = F.normalize(torch.randn(3, 8), dim=-1), F.normalize(torch.randn(3, 8), dim=-1)
    targets[1] = targets[0]  # queries 0 and 1 come from two references and reach one target
    queries = F.normalize(targets + 0.1 * torch.randn(3, 8), dim=-1)
    scale = torch.tensor(np.log(20.0))
    shared = contrastive_loss(queries, targets, references, scale, np.array([7, 7, 9]))
    # the same as each query scored without the other's copy of its target
    logits = 20.0 * queries @ torch.cat([targets, references]).T
    keep = [[0, 2, 3, 4, 5], [1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5]]
    expected = torch.stack([F.cross_entropy(logits[i, k][None], torch.tensor([k.index(i)]))
                            for i, k in enumerate(keep)]).mean()
    assert torch.isclose(shared, expected, atol=1e-5)
    assert contrastive_loss(queries, targets, references, scale) > shared + 0.3  # unmasked, each copy competes


def test_a_target_that_is_another_querys_reference_is_no_negative():
    torch.manual_seed(0)
    targets, references = F.normalize(torch.randn(2, 8), dim=-1), F.normalize(torch.randn(2, 8), dim=-1)
    references[1] = targets[0]  # query 1 starts from query 0's target (the inverse edit, in the same batch)
    queries = F.normalize(targets + 0.1 * torch.randn(2, 8), dim=-1)
    scale = torch.tensor(np.log(20.0))
    masked = contrastive_loss(queries, targets, references, scale, np.array([5, 6]), np.array([4, 5]))
    logits = 20.0 * queries @ torch.cat([targets, references]).T
    keep = [[0, 1, 2], [0, 1, 2, 3]]
    expected = torch.stack([F.cross_entropy(logits[i, k][None], torch.tensor([k.index(i)]))
                            for i, k in enumerate(keep)]).mean()
    assert torch.isclose(masked, expected, atol=1e-5)
    assert contrastive_loss(queries, targets, references, scale, np.array([5, 6])) > masked + 0.3


def test_views_repeat_each_query_over_its_images_other_looks_in_its_group():
    frame = pd.DataFrame({"query_image": ["a", "a", "b"], "query_text": ["x", "y", "z"],
                          "target_image": ["b", "c", "c"], "reference_row": [0, 0, 1], "target_row": [1, 2, 2]})
    texts = torch.arange(3.0)[:, None]
    queries = QuerySet(frame, texts, texts + 10, texts + 20, np.array([1, 2]))
    images = pd.DataFrame({"path": ["a", "a", "b", "b", "c", "c"], "view": [0, 1] * 3, "row": [0, 3, 1, 4, 2, 5]})
    assert queries.with_views(images[images.view == 0]) is queries
    viewed = queries.with_views(images)
    assert viewed.reference_rows.tolist() == [0, 0, 1, 3, 3, 4] and viewed.target_rows.tolist() == [1, 2, 2, 4, 5, 5]
    assert viewed.reference_ids.tolist() == [0, 0, 1] * 2 and viewed.target_ids.tolist() == [1, 2, 2] * 2
    assert viewed.texts.flatten().tolist() == [0, 1, 2] * 2 and viewed.remove.flatten().tolist() == [20, 21, 22] * 2
    assert [g.tolist() for g in viewed.groups] == [[0, 1, 3, 4], [2, 5]]  # a group meets its views in one batch
    assert viewed.database_rows().tolist() == [1, 2]  # evaluation's database is never a view
    assert queries.reference_ids.tolist() == queries.reference_rows.tolist()


def test_negative_memory_keeps_the_newest_copy_of_the_last_images_outside_the_batch():
    memory = NegativeMemory(3)
    assert memory.negatives(np.array([1])) is None
    memory.remember(torch.tensor([[1.0], [2.0], [3.0]]), np.array([10, 11, 12]))
    memory.remember(torch.tensor([[4.0], [5.0]]), np.array([11, 13]))  # image 11 again, newer; 10 the oldest: dropped
    assert memory.rows.tolist() == [12, 11, 13]
    assert memory.negatives(np.array([11, 99])).flatten().tolist() == [3.0, 5.0]
    assert memory.negatives(np.array([11, 12, 13])) is None


def test_linked_training_with_a_negative_memory_lowers_the_loss(tiny_queries):
    """Against the same run with a zero learning rate (the same batches, the same memory filling up, whose growing
    set of negatives raises the loss by itself): training lowers the last epoch's loss."""
    cache, queries, _ = tiny_queries

    def last_loss(lr: float) -> float:
        torch.manual_seed(0)
        retriever = Retriever(Combiner(cache.image_embeddings.shape[1], 32, 64))
        history = train_retriever(retriever, cache, queries, epochs=6, batch_size=8, lr=lr, weight_decay=0.0,
                                  seed=0, desc="test", linked_batches=True, negative_memory=16)
        return history[-1]["loss"]

    assert last_loss(3e-3) < last_loss(0.0) - 0.05  # 3.28 against 3.37 here


def test_object_alignment_ranks_the_image_that_holds_the_object():
    torch.manual_seed(0)
    phrase = F.normalize(torch.randn(1, 8), dim=-1)
    other = F.normalize(torch.randn(1, 8), dim=-1)
    scale = torch.tensor(np.log(10.0))
    holds, lacks = F.normalize(phrase + 0.1 * other, dim=-1), other
    right = object_alignment_loss(lacks, holds, phrase, torch.zeros(1, 8), scale)  # B gained the added object
    wrong = object_alignment_loss(holds, lacks, phrase, torch.zeros(1, 8), scale)
    assert right < wrong
    removed = object_alignment_loss(holds, lacks, torch.zeros(1, 8), phrase, scale)  # A held the removed one
    assert torch.isclose(removed, right)
    assert object_alignment_loss(holds, lacks, torch.zeros(1, 8), torch.zeros(1, 8), scale) == 0


def test_tower_rate_scale_and_weight_interpolation(tiny_queries):
    cache, queries, spec = tiny_queries
    backbone = spec.load_backbone().eval()
    for p in backbone.parameters():
        p.requires_grad_(False)
    for p in backbone.tail_parameters(1).values():
        p.requires_grad_(True)
    retriever = Retriever(FusionAdapter(cache.image_embeddings.shape[1], 16), backbone, 1)
    head = set(backbone.tail_parameters(0))
    tower = {id(p) for n, p in backbone.tail_parameters(1).items() if n not in head}
    rest, units = retriever.parameter_groups(1e-3, 0.1)
    assert {id(p) for p in units["params"]} == tower and units["lr"] == pytest.approx(1e-4) and rest["lr"] == 1e-3
    start = {n: p.detach().clone() for n, p in retriever.named_parameters() if p.requires_grad}
    train_retriever(retriever, cache, queries, epochs=1, batch_size=16, lr=1e-2, weight_decay=0.0, seed=0,
                    desc="tail", object_weight=1.0, tower_lr_scale=0.1)
    trained = {n: p.detach().clone() for n, p in retriever.named_parameters() if n in start}
    interpolate(retriever, start, 0.25)
    for name, param in retriever.named_parameters():
        if name in start:
            torch.testing.assert_close(param, 0.75 * start[name] + 0.25 * trained[name])


def test_norm_parameters_names_every_normalisation_weight():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2), torch.nn.LayerNorm(2))
    assert norm_parameters(model) == {"1.weight", "1.bias", "2.weight", "2.bias"}
