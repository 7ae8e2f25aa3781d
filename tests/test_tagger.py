"""Wording files, the query tagger and the seal between the training wording and the held-out wording."""
import re
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.config.section import load_section
from pipeline.config.tagger import TaggerConfig, TaggerDevelopment
from pipeline.data.phrasing import PLAIN_WORDING, SEALED_WORDING, Wording, WordingError, compose, load_wording
from pipeline.data.wording_check import main as wording_check_main
from pipeline.data.wording_check import problems
from pipeline.measurement.seal import Seal, project_seal
from pipeline.training.tagging import (
    ObjectNames,
    TaggingCorpus,
    dev_phrases,
    gold_objects,
    misspell_template,
    score_parses,
    template_interval,
    train_tagger,
    validation_phrases,
    word_tags,
)
from submission_src.tagger import TAGS, ParsedQuery, QueryTagger, consistent_tags, decode_tags, split_words

TAGGER_CONFIG = load_section(TaggerConfig)
TRAINING_FILES = [*TAGGER_CONFIG.corpus, *load_section(TaggerDevelopment).wordings, TAGGER_CONFIG.vocabulary]


def test_no_training_or_development_template_near_copies_a_heldout_one():
    seal = project_seal(load_section(TaggerConfig), load_section(TaggerDevelopment))
    assert len(seal.templates.whole) >= 600 and seal.quotes  # the training wording and the briefs were read
    clashes = seal.clashes(Wording.load(SEALED_WORDING))
    assert not clashes, f"{len(clashes)} held-out templates repeat training or development wording or a brief: " + \
        "; ".join(map(str, clashes[:5]))


def test_the_clash_check_finds_near_copies_and_quoting_briefs(tmp_path):
    brief = tmp_path / "brief.md"
    brief.write_text('Ask as "swap {remove} for {add}" does, or "without {remove}", and "add {add} and remove '
                     '{remove}" (the rigid form, never a leak).')
    seal = Seal(["Could you take out {remove} and put in {add}?", "get rid of {remove} now"], [brief])
    near = ["Can you take out {remove} and put in {add}?",  # one word changed
            "could you take out {remove} and put in {add} please",  # one word added, punctuation folded
            "Get rid of {remove}.",  # one word dropped
            "Could you swap {remove} for {add}, thanks?",  # a brief's quote inside
            "The same, without {remove}."]  # a brief's two-word quote with a slot
    assert all(seal.clash(t) for t in near), [t for t in near if not seal.clash(t)]
    apart = ["Would you take {remove} away and put in {add}?",  # two words apart
             "add {add} and remove {remove}",  # the challenge's rigid form
             "rid the scene of {remove}"]
    assert not any(seal.clash(t) for t in apart), [str(seal.clash(t)) for t in apart if seal.clash(t)]


def test_training_never_reads_the_sealed_wording(tagger_config, tmp_path):
    sealed = SEALED_WORDING.resolve()
    assert all(Path(p).resolve() != sealed and sealed.parent not in Path(p).resolve().parents
               for p in TRAINING_FILES)
    opened = []
    recording = [True]

    def hook(event, args):
        if recording[0] and event == "open" and isinstance(args[0], (str, Path)):
            opened.append(Path(args[0]).resolve())
    sys.addaudithook(hook)  # cannot be removed: `recording` switches it off
    load_wording.cache_clear()
    try:
        development = dev_phrases(load_section(TaggerDevelopment), 0, 1)
        train_tagger(replace(tagger_config, steps=2), {"val": validation_phrases(tagger_config, 4), **development})
    finally:
        recording[0] = False
    assert opened, "the audit hook saw no file opened: the check would be blind"
    assert sealed not in opened and not any(sealed.parent in p.parents for p in opened)


@pytest.mark.parametrize("path", TRAINING_FILES[:-1] + [str(SEALED_WORDING)])
def test_every_template_puts_the_objects_where_its_spans_say(path):
    wording = Wording.load(path)
    rng = np.random.default_rng(0)
    add, remove, keep = ["red vintage bicycle", "owl", "t-shirt"], ["fork and knife", "yo-yo"], "bed"
    for family, group, template in wording.templates():
        a, r = (add if group in ("add", "both") else []), (remove if group in ("remove", "both") else [])
        phrase = compose(template, a, r, keep, wording.style, rng, family)
        assert [o.lower() for o in phrase.objects("add")] == a
        assert [o.lower() for o in phrase.objects("remove")] == r
        assert "{" not in phrase.text and "}" not in phrase.text, template
        for span in phrase.spans:  # an object never starts or ends inside a word
            assert not re.match(r"\w", phrase.text[span.end: span.end + 1]), phrase
            assert span.start == 0 or not re.match(r"\w", phrase.text[span.start - 1]), phrase


def test_compose_fills_every_slot_and_records_spans():
    wording = Wording.load(PLAIN_WORDING)
    rng = np.random.default_rng(0)
    phrase = compose("Take {remove} away, then put {add} next to {keep} ({n_add} of them)", ["cat", "owl"],
                     ["fork and knife"], "bed", wording.style, rng)
    assert phrase.objects("add") == ["cat", "owl"] and phrase.objects("remove") == ["fork and knife"]
    assert "bed" in phrase.text and "two of them" in phrase.text and "{" not in phrase.text


def test_bad_template_is_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text('style: {add_determiners: ["a"], remove_determiners: ["the"], joiners: [[", ", " and "]], '
                   'cases: [keep]}\nfamilies:\n  f:\n    add: ["add {ad}"]\n')
    with pytest.raises(WordingError, match=r"add \{ad\}"):
        Wording.load(bad)


def test_the_writers_check_names_what_a_writer_must_fix(tmp_path, capsys, monkeypatch):
    style = "style: {add_determiners: [a], remove_determiners: [the], joiners: [[', ', ' and ']], cases: [keep]}\n"
    path = tmp_path / "writer.yaml"
    path.write_text(style + "families:\n  plain:\n    add: ['Add a {add}.', 'add {add}', 'Add {add}!']\n"
                    "    both: ['Swap {remove} for {add}.', 'Swap {remove} for {add}; leave the {keep}.']\n")
    found = problems(Wording.load(path))
    assert any("'a' before {add}" in p for p in found) and any("repeats 'add {add}'" in p for p in found)
    assert len(found) == 2
    path.write_text(style + "families:\n  plain:\n    add: ['Add {add}.']\n    remove: ['Drop {remove}.']\n")
    monkeypatch.setattr(sys, "argv", ["wording_check", str(path), "--minimum", "3"])
    with pytest.raises(SystemExit, match="2 edit templates; the brief asks for at least 3"):
        wording_check_main()
    monkeypatch.setattr(sys, "argv", ["wording_check", str(path), "--minimum", "2"])
    wording_check_main()
    report = capsys.readouterr().out.splitlines()
    assert report[0] == "OK: 2 edit templates in 1 families" and len(report) == 3
    assert {line.split("] ")[1] for line in report[1:]} <= {"Add a cat.", "Drop the lamp.", "Add a red vintage "
                                                           "bicycle, a cup of coffee and an owl.",
                                                           "Drop the potted plant and the toy car."}


def test_gold_tags_mark_objects_without_determiners():
    wording = Wording.load(PLAIN_WORDING)
    phrase = compose("remove {remove} and add {add}", ["red vintage bicycle"], ["fork and knife"], None,
                     wording.style, np.random.default_rng(0))
    words = [phrase.text.lower()[a:b] for a, b in split_words(phrase.text.lower(), 128)]
    tags = [TAGS[t] for t in word_tags(phrase, 128)]
    assert list(zip(words, tags)) == [("remove", "O"), ("the", "O"), ("fork", "B-remove"), ("and", "I-remove"),
                                      ("knife", "I-remove"), ("and", "O"), ("add", "O"), ("a", "O"),
                                      ("red", "B-add"), ("vintage", "I-add"), ("bicycle", "I-add")]


def test_decoding_tags():
    text = "Swap the T-Shirt for a red kite, and a cat"
    words = split_words(text.lower(), 128)
    tags = [0, 0, 3, 0, 0, 1, 2, 0, 0, 0, 2]  # the last I without a B still starts an object
    assert decode_tags(text, words, tags) == ParsedQuery(["red kite", "cat"], ["t-shirt"])


def test_a_name_never_ends_or_starts_in_a_symbol():
    text = "swap: that lion ⟶ an airplane & a softball"
    words = split_words(text, 128)
    tags = [0, 0, 0, 3, 4, 0, 1, 2, 0, 1]  # the arrow and the ampersand tagged as parts of the names
    assert decode_tags(text, words, tags) == ParsedQuery(["airplane", "softball"], ["lion"])


def test_consistent_tags_never_continue_another_role():
    """Where the argmax tags "I-remove" after an add, the row is read whole: here the add continued, as likelier."""
    OUTSIDE, B_ADD, I_ADD, B_REMOVE, I_REMOVE = range(len(TAGS))
    probabilities = torch.full((2, 4, len(TAGS)), 0.01)
    probabilities[0, 0, B_ADD] = probabilities[0, 2, OUTSIDE] = 0.96
    probabilities[0, 1, I_REMOVE], probabilities[0, 1, I_ADD] = 0.5, 0.46  # the argmax: I-remove after B-add
    probabilities[0, 3, I_ADD] = 0.96  # past the text's end (3 words): ignored
    probabilities[1, 0, I_REMOVE], probabilities[1, 0, B_REMOVE] = 0.6, 0.36  # an I cannot start a text
    probabilities[1, 1:, OUTSIDE] = 0.96
    logits = probabilities.log()
    assert logits.argmax(-1).tolist() == [[B_ADD, I_REMOVE, OUTSIDE, I_ADD], [I_REMOVE, OUTSIDE, OUTSIDE, OUTSIDE]]
    assert consistent_tags(logits, [3, 4]) == [[B_ADD, I_ADD, OUTSIDE, OUTSIDE], [B_REMOVE, OUTSIDE, OUTSIDE, OUTSIDE]]


def test_decoding_keeps_determiners_out_of_names():
    text = "add a single dragon, each of the following: one more light bulb"
    words = split_words(text, 128)
    tags = [0, 1, 2, 2, 0, 1, 0, 0, 0, 0, 1, 2, 2, 2]  # the tagger put the quantifiers inside the objects
    determiners = frozenset({"a", "single", "each", "one", "more"})
    assert decode_tags(text, words, tags, determiners) == ParsedQuery(["dragon", "light bulb"], [])
    assert decode_tags(text, words, tags) == ParsedQuery(["a single dragon", "each", "one more light bulb"], [])


def test_the_shipped_determiners_come_from_the_training_wording(trained_tagger, tagger_config):
    """What decoding strips is what the training wordings point with, never a word a name could start with."""
    tagger, path = trained_tagger
    saved = QueryTagger.from_saved(torch.load(path, weights_only=True))
    assert saved.determiners == tagger.determiners and {"a", "the", "each", "single"} <= tagger.determiners
    names = ObjectNames.from_config(replace(tagger_config, open_vocabulary=1.0, adjectives=1.0), tagger.determiners)
    assert not {n.split()[0] for n in names.catalog + names.nouns + names.wordnet} & tagger.determiners


def test_template_interval_resamples_templates():
    rng = np.random.default_rng(0)
    templates = np.repeat(np.arange(40), 10)
    hits = np.repeat(rng.random(40) < 0.7, 10)  # each template all right or all wrong
    low, high = template_interval(hits, templates)
    assert low < hits.mean() < high
    text_low, text_high = template_interval(hits, np.arange(len(hits)))  # as if every text were its own template
    assert high - low > 2 * (text_high - text_low)


def test_typos_only_touch_template_words():
    rng = np.random.default_rng(1)
    for _ in range(50):
        slips = misspell_template("please remove {remove} and then add {add}", rng)
        assert "{remove}" in slips and "{add}" in slips


def test_scores_count_exact_parses_and_span_f1():
    style = Wording.load(PLAIN_WORDING).style
    rng = np.random.default_rng(0)
    gold = [compose("add {add} and remove {remove}", ["cat"], ["dog"], None, style, rng),
            compose("add {add}", ["owl", "fox"], [], None, style, rng)]
    predicted = [ParsedQuery(["cat"], ["the dog"]), ParsedQuery(["fox"], ["owl"])]
    scores = score_parses(predicted, [gold_objects(p) for p in gold])
    assert scores["exact"] == 0.5 and scores["exact_strict"] == 0.0  # "the dog": right object, with its determiner
    assert scores["precision"] == 0.75 and scores["recall"] == 0.75
    assert score_parses([ParsedQuery(["cat"], ["dog"])], [gold_objects(gold[0])])["exact_strict"] == 1.0
    assert score_parses([ParsedQuery(["cat"], ["he dog"])], [gold_objects(gold[0])])["exact"] == 0.0


def test_trained_tagger_finds_spans_in_unseen_templates(trained_tagger, tagger_config):
    tagger, _ = trained_tagger
    phrases = validation_phrases(tagger_config, 200)
    scores = score_parses(tagger.parse([p.text for p in phrases]), [gold_objects(p) for p in phrases])
    assert scores["f1"] >= 0.8, scores
    assert tagger.parse(["Remove the motorcycle and add a microwave"]) == [ParsedQuery(["microwave"], ["motorcycle"])]


def test_corpus_mixes_catalog_and_open_vocabulary(tagger_config):
    corpus = TaggingCorpus([load_wording(p) for p in tagger_config.corpus],
                           ObjectNames.from_config(tagger_config), typo_rate=0.0)
    rng = np.random.default_rng(0)
    objects = [o for _ in range(300) for p in [corpus.sample(rng)] for o in p.objects("add") + p.objects("remove")]
    catalog = {n for n in ObjectNames().catalog}
    assert 0.25 < np.mean([o.lower() in catalog for o in objects]) < 0.75
    assert any(len(o.split()) >= 3 for o in objects)


def test_adapting_to_a_teams_names_trains_on_them(trained_tagger, tagger_config):
    from pipeline.training.tagging import adapt_tagger, training_names

    team = ["zorbo kettle", "quill stand", "brass gizmo"]
    _, names = training_names(tagger_config, team, team_share=0.5)
    drawn = [names.one(np.random.default_rng(i)) for i in range(400)]
    assert 0.35 < np.mean([n in team for n in drawn]) < 0.65
    tagger, _ = trained_tagger
    saved = tagger.saved()
    untouched = adapt_tagger(saved, tagger_config, team, steps=0, team_share=0.5, lr=1e-3).state_dict()
    assert all(torch.equal(untouched[k], v) for k, v in saved["state_dict"].items())
    adapted = adapt_tagger(saved, tagger_config, team, steps=60, team_share=0.5, lr=3e-3)
    assert any(not torch.equal(adapted.state_dict()[k], v) for k, v in saved["state_dict"].items())
    texts = [f"add a {a} and remove the {r}" for a in team for r in team if a != r]
    wanted = [ParsedQuery([a], [r]) for a in team for r in team if a != r]
    assert sum(p == w for p, w in zip(adapted.parse(texts), wanted)) >= sum(
        p == w for p, w in zip(tagger.parse(texts), wanted))


def test_long_lists_run_to_six_objects(tagger_config):
    def longest(long_lists: float) -> int:
        corpus = TaggingCorpus([load_wording(p) for p in tagger_config.corpus[:2]], ObjectNames(), typo_rate=0.0,
                               long_lists=long_lists)
        rng = np.random.default_rng(0)
        return max(len(p.objects("add")) for p in [corpus.sample(rng) for _ in range(300)])
    assert longest(0.0) == 3
    assert longest(1.0) == 6


BAD_TEXTS = ["", "   ", None, 42, float("nan"), "12345 678", "日本語のテキストを編集", "🙂🐱🚗", "x" * 10_000,
             "add a cat " * 2_000, "?!?!", "\n\t"]


@pytest.mark.parametrize("trained", [False, True])
def test_bad_input_never_crashes(trained, trained_tagger):
    tagger = trained_tagger[0] if trained else QueryTagger(buckets=1 << 10, dim=8, hidden=8, layers=1).eval()
    parsed = tagger.parse(BAD_TEXTS)
    assert len(parsed) == len(BAD_TEXTS)
    assert all(isinstance(n, str) for p in parsed for n in p.add + p.remove)
    assert parsed[0] == parsed[1] == parsed[2] == parsed[3] == ParsedQuery([], [])
    assert len(split_words("x " * 10_000, tagger.config["max_words"])) == tagger.config["max_words"]


def test_saved_tagger_round_trips(trained_tagger):
    tagger, path = trained_tagger
    again = QueryTagger.from_saved(torch.load(path, weights_only=True))
    texts = ["swap the cat for a dog", "lose the hat, add a scarf"]
    torch.testing.assert_close(again(texts), tagger(texts))


def test_keep_written_with_its_own_determiner_is_filled_bare():
    style = Wording.load(PLAIN_WORDING).style  # remove determiners: "the"

    def fill(template: str) -> str:
        return compose(template, ["cat"], [], "sofa", style, np.random.default_rng(0)).text

    assert fill("Leave {keep} alone, add {add}").startswith("Leave the sofa alone")
    assert fill("Leave the {keep} alone, add {add}").startswith("Leave the sofa alone")
    assert fill("Keep that {keep}; add {add}").startswith("Keep that sofa;")
