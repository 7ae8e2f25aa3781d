"""The names the tagger knows at the judge besides its own: a team's object names, harvested from its training
split alone (val and test stay held out), and WordNet's nouns of `names.wordnet` (made things and dishes). Decoding
completes a name its tags cut short ("bird" -> "bird cage"); the `adapt_tagger` stage also trains the tagger a
little on the team's names (`names.adapt_steps`), and every later stage reads that tagger (`team_tagger`). The
challenge's training texts are rigid ("add X and remove Y": `plain.yaml`), so its templates, read as patterns, say
where each name starts and ends; a text in any other wording is skipped and counted.
"""
from __future__ import annotations

import json
import re
import string
from pathlib import Path

import torch

from pipeline.data.lexicon import known_wordnet, nouns
from pipeline.data.phrasing import PLAIN_WORDING, load_wording
from pipeline.paths import TEAM_NAMES, TEAM_TAGGER

DETERMINER = re.compile(r"^(?:a|an|the)\s+", re.IGNORECASE)


def rigid_patterns() -> list[re.Pattern]:
    """One pattern per rigid template: its words literal, each slot a lazy group, a final period optional; templates
    of two slots first, so that "add {add}" never swallows "add X and remove Y"."""
    patterns = []
    templates = sorted((t for _, _, t in load_wording(PLAIN_WORDING).templates()), key=lambda t: -t.count("{"))
    for template in templates:
        parts = [re.escape(literal) + (f"(?P<{slot}>.+?)" if slot else "")
                 for literal, slot, _, _ in string.Formatter().parse(template.rstrip("."))]
        patterns.append(re.compile(r"^\s*" + "".join(parts) + r"\s*\.?\s*$", re.IGNORECASE))
    return patterns


def slot_names(filled: str) -> list[str]:
    """The names of a filled slot ("a cat, a dog and the fox"), determiners and case dropped. A list splits at
    commas, and at its last "and" only where a determiner follows: "fork and knife" stays one name."""
    items = [item for part in filled.split(",") for item in re.split(r"\s+and\s+(?=(?:a|an|the)\s)", part.strip(),
                                                                      flags=re.IGNORECASE)]
    return [name for item in items if (name := DETERMINER.sub("", item.strip()).strip().lower())]


def harvest(texts: list[str]) -> dict:
    """The names the rigid texts among `texts` hold, and how many texts were read and matched."""
    patterns, names, matched = rigid_patterns(), set(), 0
    for text in texts:
        match = next((m for p in patterns if (m := p.match(str(text)))), None)
        if match:
            matched += 1
            names.update(name for slot in match.groupdict().values() for name in slot_names(slot))
    return {"names": sorted(names), "texts": len(texts), "matched": matched}


def known_names(texts: list[str], wordnet_files: list[str]) -> dict:
    """What the `dataset` stage writes to data/names.json: the harvest of the training split's `texts` and WordNet's names."""
    return harvest(texts) | {"wordnet": list(nouns(tuple(wordnet_files)))}


def with_known_names(saved_tagger: dict, path: Path = TEAM_NAMES) -> dict:
    """A saved tagger that also knows the team's names and WordNet's (none before the `dataset` stage has run).
    WordNet's names that begin with a determiner word are left out (`known_wordnet`), as in its training: a team's
    own such names ("new moon") are its objects, and kept."""
    found = json.loads(path.read_text()) if path.is_file() else {}
    config = dict(saved_tagger["config"])
    wordnet = known_wordnet(found.get("wordnet", ()), config.get("determiners", ()))
    config["names"] = sorted(set(config.get("names", ())) | set(found.get("names", ())) | set(wordnet))
    return {**saved_tagger, "config": config}


def team_names(path: Path = TEAM_NAMES) -> list[str]:
    """The object names the `dataset` stage harvested from the training split."""
    return json.loads(path.read_text())["names"] if path.is_file() else []


def team_tagger(path: Path = TEAM_TAGGER) -> dict:
    """The saved tagger the `adapt_tagger` stage wrote: what training, evaluation, the package and verify use."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: `dvc repro adapt_tagger` writes it")
    return torch.load(path, map_location="cpu", weights_only=True)
