"""WordNet verbs made into tagger templates, on a miniature WordNet in WordNet's own file format."""
import pytest

from pipeline.data.lexicon import LexiconMissingError, lexicon_wording, nouns, verb_graph, verbs
from pipeline.data.phrasing import template_slots

DATA = """  1 This software and database is being provided to you, the LICENSEE, by Princeton University
00000001 35 v 02 remove 0 take_away 0 002 ~ 00000002 v 0000 ~ 00000004 v 0000 01 + 08 00 | take something away
00000002 35 v 01 evict 0 001 ~ 00000003 v 0000 01 + 08 00 | expel from one's property
00000003 35 v 01 dispossess 0 000 01 + 08 00 | deeper still
00000004 35 v 01 put 0 000 01 + 08 00 | shared with adding
00000005 35 v 02 add 0 append 0 001 ~ 00000006 v 0000 01 + 08 00 | make an addition
00000006 35 v 02 conjure_up 0 put 0 000 01 + 08 00 | summon
00000007 35 v 01 remove 0 000 01 + 08 00 | a second sense
"""
INDEX = """  1 This software and database is being provided to you, the LICENSEE, by Princeton University
add v 1 1 ~ 1 0 00000005
remove v 2 1 ~ 2 0 00000001 00000007
evict v 1 1 ~ 1 0 00000002
"""


@pytest.fixture
def wordnet(tmp_path):
    (tmp_path / "data.verb").write_text(DATA, encoding="latin-1")
    (tmp_path / "index.verb").write_text(INDEX, encoding="latin-1")
    return tmp_path


def test_seeds_reach_synonyms_and_hyponyms_to_their_depth(wordnet):
    assert verbs(["remove.1"], 0, wordnet) == {"remove", "take away"}
    assert verbs(["remove.1"], 1, wordnet) == {"remove", "take away", "evict", "put"}
    assert verbs(["remove.1@2"], 0, wordnet) == {"remove", "take away", "evict", "put", "dispossess"}
    with pytest.raises(ValueError, match="remove.3"):
        verbs(["remove.3"], 1, wordnet)


def test_templates_name_each_side_by_its_own_verbs(wordnet):
    wording = lexicon_wording(["add.1"], ["remove.1"], 1, root=wordnet)
    texts = {group: templates for group, templates in wording.families["wordnet"].items()}
    assert "evict {remove}" in texts["remove"] and "conjure up {add}" in texts["add"]
    assert not any("put" in t for group in texts.values() for t in group)  # both sides reach it: no role
    for group, templates in texts.items():
        needed = {"add": {"add"}, "remove": {"remove"}, "both": {"add", "remove"}}[group]
        assert all(template_slots(t) == needed for t in templates)
    wording._validate()


def test_a_missing_wordnet_names_the_fix(tmp_path):
    verb_graph.cache_clear()
    with pytest.raises(LexiconMissingError, match="wordnet-base"):
        verb_graph(tmp_path)


NOUNS = """  1 This software and database is being provided to you, the LICENSEE, by Princeton University
00000010 06 n 02 bird_cage 0 birdcage 0 000 | a cage for a bird
00000011 06 n 02 Eiffel_Tower 0 paper_towel_holder 0 000 | a proper name and a three-word name
00000012 06 n 01 four_word_long_name 0 000 | too long
00000013 13 n 01 espresso 0 000 | a drink
00000014 05 n 01 aardvark 0 000 | an animal, another file
"""


def test_nouns_of_chosen_files_whole_and_lower_case(tmp_path):
    (tmp_path / "data.noun").write_text(NOUNS, encoding="latin-1")
    assert nouns(("artifact",), tmp_path) == ("bird cage", "birdcage", "paper towel holder")
    assert "espresso" in nouns(("artifact", "food"), tmp_path) and "aardvark" not in nouns(("food",), tmp_path)
    with pytest.raises(ValueError, match="furniture"):
        nouns(("furniture",), tmp_path)
