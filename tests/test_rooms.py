"""The pipeline's rooms import only downstream of the data flow: the foundation (top-level modules) no room, each
room the foundation and the rooms before it (pipeline/__init__.py says why); the shipped files nothing of ours."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROOMS = ("data", "training", "measurement", "shipping", "app")  # in data-flow order


def room_of(module: str) -> str | None:
    """`pipeline.training.features` -> "training"; a foundation module (`pipeline.paths`) -> None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in ROOMS else None


def pipeline_imports(path: Path, package: str = "pipeline") -> set[str]:
    """Every `pipeline...` module (or `package`'s) `path` imports, at module level or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == package}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == package:
            # `from pipeline.data import catalog` names a module, `from pipeline.paths import ROOT` a module's name
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def upward_imports(root: Path) -> list[tuple[str, str]]:
    """(importing file, imported module) for each import against the order."""
    wrong = []
    for path in sorted((root / "pipeline").rglob("*.py")):
        module = ".".join(path.relative_to(root).with_suffix("").parts)
        importer = room_of(module) if path.name != "__init__.py" else room_of(f"{module}.x")
        rank = -1 if importer is None else ROOMS.index(importer)
        for imported in pipeline_imports(path):
            target = room_of(imported)
            if target is not None and ROOMS.index(target) > rank:
                wrong.append((str(path.relative_to(root)), imported))
    return wrong


def test_rooms_import_only_what_comes_before_them():
    assert upward_imports(ROOT) == []


def test_the_pipeline_imports_no_benchmark_and_no_stage():
    """Benchmarks and stages import the pipeline, never the other way: no cycle between them."""
    backwards = [(str(path.relative_to(ROOT)), module) for path in sorted((ROOT / "pipeline").rglob("*.py"))
                 for package in ("benchmarks", "stages") for module in pipeline_imports(path, package)]
    assert backwards == []


def test_every_pipeline_module_lives_in_a_room_or_the_foundation():
    foundation = {p.stem for p in (ROOT / "pipeline").glob("*.py")} - {"__init__"}
    assert foundation == {"params", "paths", "console", "ranking", "pretrained", "parse_errors"}
    packages = {p.name for p in (ROOT / "pipeline").iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages == {*ROOMS, "config"}  # config: the foundation's dataclasses, a module per params section


def test_an_upward_import_is_named(tmp_path):
    for room in ROOMS:
        (tmp_path / "pipeline" / room).mkdir(parents=True)
        (tmp_path / "pipeline" / room / "__init__.py").write_text("")
    (tmp_path / "pipeline" / "paths.py").write_text("from pipeline.data import catalog\n")
    (tmp_path / "pipeline" / "data" / "catalog.py").write_text("from pipeline.paths import ROOT\n")
    (tmp_path / "pipeline" / "training" / "features.py").write_text(
        "def f():\n    from pipeline.shipping.package import SIZE_LIMIT\n")
    (tmp_path / "pipeline" / "app" / "ui.py").write_text("import pipeline.shipping.verify\n")
    assert sorted(upward_imports(tmp_path)) == [
        ("pipeline/paths.py", "pipeline.data.catalog"),
        ("pipeline/training/features.py", "pipeline.shipping.package.SIZE_LIMIT")]


def test_the_shipped_files_import_nothing_of_the_pipeline():
    for path in (ROOT / "submission_src").glob("*.py"):
        assert not pipeline_imports(path) and "import pipeline" not in path.read_text(), path.name
