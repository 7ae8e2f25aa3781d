"""What a miss got wrong: each class from the objects of target and retrieved image, shapes and company."""
import pandas as pd
import pytest

from pipeline.data.dataset import SplitSource
from pipeline.measurement.diagnosis import (
    BOTH,
    EXTRA_OBJECT,
    KEEPS_REMOVED,
    LACKS_ADDED,
    OTHER_SCENE,
    SAME_OBJECTS,
    SIBLING,
    SplitRecord,
    edit_shape,
    in_unseen_company,
    miss_class,
    summary,
)

TARGET = {"cat", "lamp", "owl"}  # reference {cat, lamp, dog}: add owl, remove dog


@pytest.mark.parametrize("retrieved, sibling, expected", [
    ({"cat", "lamp"}, False, LACKS_ADDED),
    ({"cat", "lamp", "dog", "owl"}, False, KEEPS_REMOVED),
    ({"cat", "lamp", "dog"}, False, BOTH),
    ({"cat", "lamp", "owl", "cup"}, False, EXTRA_OBJECT),
    ({"cat", "lamp", "cup"}, False, LACKS_ADDED),  # the wrong object added
    (set(TARGET), False, SAME_OBJECTS),
    ({"cat", "dog", "cup"}, True, SIBLING),
    ({"cat", "dog", "cup"}, False, OTHER_SCENE),
    ({"tree", "car"}, False, OTHER_SCENE),
])
def test_each_miss_class(retrieved, sibling, expected):
    assert miss_class(TARGET, retrieved, {"owl"}, {"dog"}, sibling) == expected


def test_shapes_and_unseen_company():
    assert edit_shape(["a", "b"], ["c"]) == "2+1"
    index = {"cat": 0, "owl": 1, "lamp": 2}
    held_out = frozenset({(0, 1)})
    assert in_unseen_company(["cat", "lamp", "owl"], ["owl"], held_out, index)
    assert not in_unseen_company(["cat", "lamp", "owl"], ["lamp"], held_out, index)


def test_record_diagnoses_a_table_and_sums_it_up(tmp_path):
    pd.DataFrame({"image": ["r.png", "t1.png", "t2.png", "x.png"],
                  "objects": [["cat", "dog"], ["cat", "owl"], ["dog", "lamp"], ["tree"]]}
                 ).to_parquet(tmp_path / "scenes.parquet")
    edits = pd.DataFrame({"query_image": ["r.png", "r.png"], "query_text": ["q1", "q2"],
                          "target_image": ["t1.png", "t2.png"], "add": [["owl"], ["lamp"]],
                          "remove": [["dog"], ["cat"]]})
    edits.to_parquet(tmp_path / "queries.parquet")
    (tmp_path / "data.csv").write_text("query_image,query_text,target_image\n")
    record = SplitRecord.find(SplitSource(str(tmp_path / "data.csv"), str(tmp_path / "images")))
    detail = edits[["query_image", "query_text", "target_image"]].assign(
        rank_m=[1, 0], prediction_m=["t2.png", "t2.png"])
    table = record.diagnose(detail, ["m"], frozenset(), {})
    assert table.edit_shape.tolist() == ["1+1", "1+1"] and table.miss_m.tolist() == [SIBLING, ""]
    result = summary(table, ["m"])["m"]
    assert result["by_shape"] == {"1+1": {"queries": 2, "top1": 0.5}}
    assert result["misses"]["count"] == 1 and result["misses"][SIBLING] == 1.0
    assert SplitRecord.find(SplitSource(str(tmp_path / "none" / "data.csv"), str(tmp_path / "none"))) is None
