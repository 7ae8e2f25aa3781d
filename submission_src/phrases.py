"""Object phrases: the text an object is embedded as, and the sums of those embeddings a query adds and removes."""
from __future__ import annotations

import torch


def object_phrase(name: str) -> str:
    """The phrase whose text embedding stands for one object."""
    article = "an" if name[:1].lower() in tuple("aeiou") else "a"
    return f"a photo of {article} {name}"


def phrase_sums(parsed: list, encode_phrases, dim: int, device: str | torch.device = "cpu"
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Σ of the object-phrase embeddings to add and to remove, per query (zero rows where none); each distinct
    object is encoded once. `parsed`: each query's objects (`add`, `remove`: name lists, as the tagger's
    ParsedQuery holds them); `encode_phrases`: texts → [N, dim] L2-normalised rows."""
    names = sorted({name for query in parsed for name in query.add + query.remove})
    vectors = (encode_phrases([object_phrase(name) for name in names]).float().to(device) if names
               else torch.zeros(1, dim, device=device))
    position = {name: i for i, name in enumerate(names)}

    def sums(role: str) -> torch.Tensor:
        pairs = [(row, position[name]) for row, query in enumerate(parsed) for name in getattr(query, role)]
        out = torch.zeros(len(parsed), dim, device=vectors.device)
        if pairs:
            rows, columns = zip(*pairs)
            out.index_add_(0, torch.tensor(rows, device=vectors.device), vectors[list(columns)])
        return out

    return sums("add"), sums("remove")
