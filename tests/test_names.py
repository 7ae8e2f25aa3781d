"""A team's own object names: harvested from its training split's rigid texts, known to the tagger at the judge,
which then completes a name its tags cut short."""
import json

from pipeline.data.names import harvest, known_names, slot_names, with_known_names
from submission_src.tagger import TAGS, KnownNames, ParsedQuery, QueryTagger, decode_tags, split_words


def test_rigid_texts_give_whole_names_and_other_wording_is_counted_apart():
    found = harvest(["Remove the bird cage and add a paper towel roll.", "add an espresso machine",
                     "add a fork and knife and remove the salt shaker", "please could you add a cat", 42])
    assert found == {"names": ["bird cage", "espresso machine", "fork and knife", "paper towel roll", "salt shaker"],
                     "texts": 5, "matched": 3}
    assert slot_names("a cat, a dog and the fox") == ["cat", "dog", "fox"]


def test_a_saved_tagger_learns_the_harvested_names_and_wordnets(tmp_path):
    path = tmp_path / "names.json"
    path.write_text(json.dumps({"names": ["bird cage"], "texts": 1, "matched": 1, "wordnet": ["paper towel"]}))
    saved = QueryTagger(buckets=64, dim=4, hidden=4, layers=1).saved()
    known = QueryTagger.from_saved(with_known_names(saved, path))
    assert known.config["names"] == ["bird cage", "paper towel"] and known.names.longest(["bird", "cage"], 0) == 2
    assert with_known_names(saved, tmp_path / "none.json")["config"]["names"] == []


def test_the_stage_knows_wordnets_made_things():
    found = known_names(["add a cat"], ["artifact", "food"])
    assert found["names"] == ["cat"] and {"batting cage", "espresso"} <= set(found["wordnet"])


def _decoded(text: str, tagged: dict[str, str], names=()) -> ParsedQuery:
    """`text` decoded from word tags: `tagged` maps a word to its tag, every other word is O."""
    words = split_words(text.lower(), 64)
    tags = [TAGS.index(tagged.get(text.lower()[a:b], "O")) for a, b in words]
    return decode_tags(text, words, tags, frozenset({"the", "a", "new"}), KnownNames(names))


def test_a_known_name_the_tags_cut_short_is_made_whole():
    cut = {"bird": "B-remove", "espresso": "B-add"}
    text = "Remove the bird cage and add an espresso machine"
    assert _decoded(text, cut) == ParsedQuery(["espresso"], ["bird"])
    assert _decoded(text, cut, ["bird cage", "espresso machine", "espresso machine stand"]) == ParsedQuery(
        ["espresso machine"], ["bird cage"])
    # a tagged word is never taken over, and a name that does not follow is never made up
    assert _decoded("remove the bird cage", {"bird": "B-remove", "cage": "B-add"}, ["bird cage"]) == ParsedQuery(
        ["cage"], ["bird"])
    assert _decoded("remove the bird now", cut, ["bird cage"]) == ParsedQuery([], ["bird"])


def test_wordnets_names_that_begin_with_a_determiner_are_not_known_but_a_teams_are(tmp_path):
    from pipeline.data.names import with_known_names

    found = tmp_path / "names.json"
    found.write_text(json.dumps({"names": ["new moon"], "wordnet": ["new world", "bird cage"]}))
    known = with_known_names({"config": {"determiners": ["a", "new"]}}, found)["config"]["names"]
    assert known == ["bird cage", "new moon"]


def test_a_known_name_the_tags_split_is_one_object():
    split = {"couch": "B-add", "lamp": "B-add", "chair": "B-remove"}
    text = "Add a couch and lamp and remove the chair"
    assert _decoded(text, split) == ParsedQuery(["couch", "lamp"], ["chair"])
    assert _decoded(text, split, ["couch and lamp"]) == ParsedQuery(["couch and lamp"], ["chair"])
    assert _decoded("remove the bird cage", {"bird": "B-remove", "cage": "B-remove"}, ["bird cage"]) == ParsedQuery(
        [], ["bird cage"])
    # a name that begins with a determiner word keeps it where the name is known
    moon = {"moon": "B-add", "with": "I-add", "face": "I-add"}
    assert _decoded("add a new moon with face", moon) == ParsedQuery(["moon with face"], [])
    assert _decoded("add a new moon with face", moon, ["new moon with face"]) == ParsedQuery(["new moon with face"], [])
    assert _decoded("add a new moon with face", {"new": "B-add", **moon}, ["new moon with face"]) == ParsedQuery(
        ["new moon with face"], [])
    # the same words in two roles stay two objects, each as tagged
    assert _decoded("add a couch and lamp", {"couch": "B-add", "lamp": "B-remove"},
                    ["couch and lamp"]) == ParsedQuery(["couch"], ["lamp"])
