"""Scoring under the judge's protocol (embed a split's queries and database, rank by cosine, Top-1) for every
method on every scored split, with per-query detail, the tagger's parses against the generator's edits, the
diagnosis of misses, galleries, and what a backbone sees zero-shot: object recall@k."""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from pipeline.data.dataset import LOOK_SHIFT, OUT_OF_GENERATOR, PLAIN_TWIN, SplitSource, load_manifest
from pipeline.measurement.diagnosis import SplitRecord, catalog_pairs, summary
from pipeline.measurement.gallery import draw_gallery
from pipeline.paths import ADAPTER, COMBINER, QUERY_TABLES, TAIL_FIXES_GALLERY, gallery_plot
from pipeline.ranking import object_recall_at_k, retrieval_scores, target_ranks, top1
from pipeline.training.baselines import Combiner, ImageOnly, TextOnly
from pipeline.training.experiment import Experiment
from pipeline.training.feature_store import FeatureCache
from pipeline.training.retriever import QuerySet, Retriever
from pipeline.training.tagging import score_parses
from submission_src.fusion import FusionAdapter
from submission_src.phrases import object_phrase
from submission_src.tagger import ParsedQuery


@torch.no_grad()
def rank_queries(query_embeddings: torch.Tensor, database: torch.Tensor, database_rows: np.ndarray,
                 target_rows: np.ndarray, top: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """The judge's protocol: cosine over the database; returns each target's rank and each query's top rows."""
    similarity = F.normalize(query_embeddings.float(), dim=-1) @ F.normalize(database.float(), dim=-1).T
    position = {row: i for i, row in enumerate(database_rows)}
    ranks = target_ranks(similarity, np.array([position[r] for r in target_rows]))
    return ranks, database_rows[similarity.topk(min(top, len(database_rows)), dim=1).indices.numpy()]


@torch.no_grad()
def embed_all(retriever: Retriever, cache: FeatureCache, queries: QuerySet, batch_size: int = 512):
    """Query embeddings of every query and the database embeddings of the split, in host memory."""
    rows = queries.database_rows()
    database = torch.cat([retriever.embed_images(cache, rows[i: i + batch_size])
                          for i in range(0, len(rows), batch_size)])
    index = np.arange(len(queries.frame))
    query = torch.cat([retriever.embed_queries(cache, queries, index[i: i + batch_size])
                       for i in range(0, len(index), batch_size)])
    return query.cpu(), database.cpu(), rows


def split_top1(retriever: Retriever, cache: FeatureCache, queries: QuerySet) -> float:
    """The share of queries whose target is the database image closest to the query."""
    query, database, rows = embed_all(retriever, cache, queries)
    return top1(rank_queries(query, database, rows, queries.target_rows)[0])


def split_object_recall(cache: FeatureCache, split: str) -> float | None:
    """The frozen backbone's zero-shot object recall@k on a split's images, from the cache (None when the split
    does not record its images' objects, as a team's own data does not)."""
    images = cache.images[(cache.images.split == split) & cache.images.objects.notna()]
    if images.empty:
        return None
    objects = cache.texts[cache.texts.kind == "object"]
    index = {text: i for i, text in enumerate(objects.text)}
    present = [[index[object_phrase(name)] for name in names] for names in images.objects]
    return object_recall_at_k(cache.embeddings(images.row.to_numpy()), cache.text_embeddings[objects.row.to_numpy()],
                              present)


SCORED_SPLITS = ("val", "test", PLAIN_TWIN, OUT_OF_GENERATOR, LOOK_SHIFT)


def load_methods(experiment: Experiment) -> dict[str, Retriever]:
    """Every method scored: the three references, the trained combiner, adapter and adapter_tail."""
    dim, hidden = experiment.dim, experiment.settings.adapter.hidden
    combiner = Combiner(dim).eval()
    combiner.load_state_dict(torch.load(COMBINER, weights_only=True))
    adapter = FusionAdapter.from_saved(torch.load(ADAPTER, weights_only=True))
    return {"image_only": Retriever(ImageOnly()), "text_only": Retriever(TextOnly()),
            "arithmetic": Retriever(FusionAdapter(dim, hidden)), "combiner": Retriever(combiner),
            "adapter": Retriever(adapter), "adapter_tail": experiment.trained_adapter_tail()}


def tagger_exact(frame: pd.DataFrame, source_csv: str) -> dict | None:
    """The tagger's exact-parse rates against the generator's edit (synthetic splits only): `exact` counts an
    object found with or without its determiner, `exact_strict` by its name alone."""
    truth_path = Path(source_csv).parent / "queries.parquet"
    if not truth_path.is_file():
        return None
    truth = pd.read_parquet(truth_path)
    gold = [{role: list(zip(row[role], row[f"{role}_written"])) for role in ("add", "remove")}
            for row in truth.to_dict("records")]
    predicted = [ParsedQuery(list(a), list(r)) for a, r in zip(frame["add"], frame["remove"])]
    scores = score_parses(predicted, gold)
    return {"exact": scores["exact"], "exact_strict": scores["exact_strict"]}


@dataclass
class SplitScores:
    """One split scored: per-method figures, one row per query (ranks, predictions, miss classes), the diagnosis
    summary (None without a generator's record) and the embeddings of the methods asked to keep them."""
    metrics: dict
    detail: pd.DataFrame
    diagnosis: dict | None
    embeddings: dict


def score_split(experiment: Experiment, methods: dict[str, Retriever], split: str, source: SplitSource,
                keep: Collection[str] = ()) -> SplitScores:
    """Every method on one split under the judge's protocol; `keep`: methods whose query and database rows are
    returned (what verify holds the packaged model against)."""
    queries = experiment.queries(split)
    names = experiment.cache.images.set_index("row").image
    detail = queries.frame[["query_image", "query_text", "target_image", "add", "remove"]].copy()
    metrics, embeddings = {}, {}
    for name, retriever in methods.items():
        query, database, rows = embed_all(retriever.to(experiment.device), experiment.cache, queries)
        ranks, top = rank_queries(query, database, rows, queries.target_rows)
        metrics[name] = retrieval_scores(ranks)
        detail[f"rank_{name}"] = ranks
        detail[f"prediction_{name}"] = names[top[:, 0]].to_numpy()  # the app shows it beside the target
        if name == "adapter_tail":
            detail["top"] = [list(names[r].to_numpy()) for r in top]
        if name in keep:
            embeddings[f"queries_{name}"], embeddings[f"database_{name}"] = query.numpy(), database.numpy()
            embeddings["database_images"] = names[rows].to_numpy().astype(str)
    metrics["tagger_exact"] = tagger_exact(detail, source.csv)
    diagnosis = None
    if record := SplitRecord.find(source):
        held_out, object_index = catalog_pairs(experiment.settings.data.held_out_pair_fraction,
                                               experiment.settings.data.seed)
        detail = record.diagnose(detail, list(methods), held_out, object_index)
        diagnosis = summary(detail, list(methods))
    if split != PLAIN_TWIN:  # the twin's images are the test split's
        metrics["zero_shot_object_recall"] = split_object_recall(experiment.cache, split)
    return SplitScores(metrics, detail, diagnosis, embeddings)


def draw_split_galleries(split: str, detail: pd.DataFrame, images: Path, metrics: dict) -> None:
    """adapter_tail's first successes and failures; on test, also the queries it fixed over zero-shot arithmetic
    (their share goes into `metrics`)."""
    if split == PLAIN_TWIN:  # the twin's images are the test split's
        return
    gallery = pd.concat([detail[detail.rank_adapter_tail == 0].head(4), detail[detail.rank_adapter_tail > 0].head(4)])
    draw_gallery(gallery.rename(columns={"rank_adapter_tail": "rank"}), images,
                 f"{split}: adapter_tail - 4 successes, then 4 failures (blue: target; green/red: retrieved)",
                 gallery_plot(split))
    if split == "test":  # what training bought, one query at a time
        fixed = (detail.rank_adapter_tail == 0) & (detail.rank_arithmetic > 0)
        metrics["tail_fixed_share"] = float(np.mean(fixed))
        draw_gallery(detail[fixed].head(8).rename(columns={"rank_arithmetic": "rank"}), images,
                     "test: right with adapter_tail, wrong with zero-shot arithmetic (caption: arithmetic's "
                     "rank; retrieved: adapter_tail's)", TAIL_FIXES_GALLERY)


def evaluate_methods(experiment: Experiment, keep: Collection[str] = ()) -> tuple[dict, dict, dict]:
    """Every method on every scored split the manifest has: metrics per split (with the paraphrase gap),
    diagnosis per split, and the test embeddings of the `keep` methods; per-query tables and galleries written."""
    methods = load_methods(experiment)
    manifest = load_manifest()
    QUERY_TABLES.mkdir(parents=True, exist_ok=True)
    metrics, diagnosis, kept = {}, {}, {}
    for split in [s for s in SCORED_SPLITS if s in manifest]:
        scores = score_split(experiment, methods, split, manifest[split], keep if split == "test" else ())
        metrics[split], kept = scores.metrics, kept | scores.embeddings
        if scores.diagnosis is not None:
            diagnosis[split] = scores.diagnosis
        scores.detail.to_parquet(QUERY_TABLES / f"{split}_queries.parquet", index=False)
        draw_split_galleries(split, scores.detail, Path(manifest[split].images), metrics[split])
        print(split, {name: metrics[split][name]["top1"] for name in methods}, metrics[split]["tagger_exact"],
              "zero-shot object recall", metrics[split].get("zero_shot_object_recall"))
    if PLAIN_TWIN in metrics:
        # Top-1 lost to the wording alone: the same scenes and edits, plain wording vs held-out wording.
        metrics["paraphrase_gap"] = {name: metrics[PLAIN_TWIN][name]["top1"] - metrics["test"][name]["top1"]
                                     for name in methods}
        print("paraphrase gap", metrics["paraphrase_gap"])
    return metrics, diagnosis, kept
