"""The check a wording writer runs on its file before handing it in: the format as training loads it, a
determiner written into a template before a list slot (the style's lists choose each object's determiner; `{keep}` is
written bare, so "the {keep}" is the writer's own), near-copies,
the count, and a few filled examples to read.

    python -m pipeline.data.wording_check path/to/writer.yaml [--minimum 550]
"""
import argparse
import re
import sys

import numpy as np

from pipeline.data.phrasing import DETERMINER_WORDS, Wording, WordingError, compose, template_slots

DETERMINERS_BEFORE_SLOT = re.compile(rf"\b({'|'.join(DETERMINER_WORDS)})\s+\{{(add|remove)\}}", re.IGNORECASE)
EXAMPLE_OBJECTS = {"add": [["cat"], ["red vintage bicycle", "cup of coffee", "owl"]],
                   "remove": [["lamp"], ["potted plant", "toy car"]]}


def folded(template: str) -> str:
    """Lower case, punctuation and spacing folded, slots kept: two templates that differ only there are one."""
    return " ".join(re.sub(r"[^\w{}]+", " ", template.lower()).split())


def problems(wording: Wording) -> list[str]:
    """What a writer must fix besides the format: determiners before slots and templates that repeat another."""
    found, seen = [], {}
    for family, group, template in wording.templates():
        if match := DETERMINERS_BEFORE_SLOT.search(template):
            found.append(f"{family}/{group}: {template!r}: {match.group(1)!r} before {{{match.group(2)}}} belongs "
                         "in the style's determiner lists")
        key = folded(template)
        if key in seen:
            found.append(f"{family}/{group}: {template!r} repeats {seen[key]!r}")
        seen.setdefault(key, template)
    return found


def examples(wording: Wording, count: int, seed: int = 0) -> list[str]:
    """Filled templates drawn across the file, one or several objects per slot."""
    rng = np.random.default_rng(seed)
    templates = list(wording.templates())
    out = []
    for i in rng.permutation(len(templates))[:count]:
        family, group, template = templates[i]
        size = 1 if template_slots(template) & {"n_add", "n_remove"} else int(rng.integers(2))  # counts need two
        add = EXAMPLE_OBJECTS["add"][size] if group in ("add", "both") else []
        remove = EXAMPLE_OBJECTS["remove"][size] if group in ("remove", "both") else []
        keep = "sofa" if "keep" in template_slots(template) else None
        out.append(f"[{family}/{group}] {compose(template, add, remove, keep, wording.style, rng, family).text}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path")
    parser.add_argument("--minimum", type=int, default=550, help="distinct edit templates the brief asks for")
    args = parser.parse_args()
    try:
        wording = Wording.load(args.path)
    except (WordingError, KeyError, TypeError, AttributeError) as error:
        sys.exit(f"NOT OK: {type(error).__name__}: {error}")
    edits = [t for _, group, t in wording.templates() if group != "none"]
    found = problems(wording)
    if len(edits) < args.minimum:
        found.append(f"{len(edits)} edit templates; the brief asks for at least {args.minimum}")
    if found:
        sys.exit("NOT OK:\n" + "\n".join(found))
    print(f"OK: {len(edits)} edit templates in {len(wording.families)} families")
    print("\n".join(examples(wording, 12)))


if __name__ == "__main__":
    main()
