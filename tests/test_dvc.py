"""dvc.yaml lists every project file a stage imports, so an edit to any of them reruns the stage: the imports are
read from the code (transitively, from each stage's `python -m` module), never kept by hand."""
import ast
import re
import shutil
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def imported_files(path: Path, root: Path) -> set[Path]:
    """Project files `path` imports: packages' modules by dotted name, and the shipped files' bare-name imports of
    their siblings (the judge's flat repo)."""
    names, relative_names = set(), set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level:  # within a package: from .backbone import Backbone
            base = path.parents[node.level - 1]
            relative_names |= {(base, node.module)} if node.module else {(base, a.name) for a in node.names}
    candidates = [(root / Path(*n.split(".")), path.parent / Path(*n.split("."))) for n in names]
    candidates += [(base / Path(*n.split(".")),) for base, n in relative_names]
    return {c.with_suffix(".py") for group in candidates for c in group
            if c.with_suffix(".py").is_file() and c.name != "__init__"}


def stage_closure(module: str, root: Path) -> set[str]:
    start = root / Path(*module.split(".")).with_suffix(".py")
    seen, todo = set(), [start]
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            todo += imported_files(path, root) - seen
    return {str(p.relative_to(root)) for p in seen}


def missing_deps(root: Path) -> dict[str, list[str]]:
    """Stage -> project files it imports that its deps do not cover (a dep folder covers what lies inside)."""
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    missing = {}
    for name, stage in stages.items():
        module = re.search(r"python -m ([\w.]+)", stage["cmd"]).group(1)
        deps = [d if isinstance(d, str) else next(iter(d)) for d in stage.get("deps", [])]
        uncovered = sorted(f for f in stage_closure(module, root)
                           if not any(f == d or f.startswith(d.rstrip("/") + "/") for d in deps))
        if uncovered:
            missing[name] = uncovered
    return missing


def test_every_stage_lists_the_project_files_it_imports():
    assert missing_deps(ROOT) == {}, "dvc.yaml deps miss imported files (stage: files)"


def test_an_import_added_without_its_dep_is_named(tmp_path):
    for part in ("dvc.yaml", "stages", "pipeline", "submission_src"):
        (shutil.copytree if (ROOT / part).is_dir() else shutil.copy2)(ROOT / part, tmp_path / part)
    assert missing_deps(tmp_path) == {}
    entry = tmp_path / "stages" / "train_tagger.py"  # a stage with precise deps (a folder dep would cover it)
    entry.write_text("from pipeline.measurement.gallery import draw_gallery\n" + entry.read_text())
    # gallery.py itself imports the judge's image loader, so both are named
    assert missing_deps(tmp_path) == {"train_tagger": ["pipeline/measurement/gallery.py", "submission_src/images.py"]}


def test_the_tagger_is_no_dependency_of_the_backbone_stages():
    """An edit to the shipped tagger retrains the tagger and what uses it, never the bootstrap backbone."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for stage in ("data", "bootstrap", "features"):
        assert "submission_src/tagger.py" not in stages[stage]["deps"], stage
        assert "submission_src/tagger.py" not in stage_closure(f"stages.{stage}", ROOT), stage


def test_shipping_stages_depend_on_configuration_not_on_training_code():
    """An edit to how the tagger or the tail trains reruns training, never size_check, package or verify: they read
    the configurations (pipeline/config/) and the trained files."""
    for stage in ("size_check", "package", "verify"):
        assert not [f for f in stage_closure(f"stages.{stage}", ROOT)
                    if f.startswith(("pipeline/training/", "pipeline/measurement/"))], stage


def test_the_bootstrap_never_sees_the_challenge_splits():
    """The backbone stands in for a web-pretrained one: it reads no split and no code that makes them, so every
    artist's splits (data.artist) meet the same backbone."""
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["bootstrap"]
    assert not [d for d in stage["deps"] if str(d).startswith("data")]
    assert not {"pipeline/data/synth.py", "pipeline/data/dataset.py"} & stage_closure("stages.bootstrap", ROOT)
    assert not [p for p in stage["params"] if p == "data" or p in ("data.artist", "data.scene", "data.references")]


def dvc_outputs(root: Path) -> list[str]:
    """Every path a stage writes (outs, metrics and plots), as dvc.yaml names it."""
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    return [entry if isinstance(entry, str) else next(iter(entry))
            for stage in stages.values() for kind in ("outs", "metrics", "plots") for entry in stage.get(kind, [])]


def test_every_artifact_path_is_a_stage_output():
    """pipeline/paths.py and dvc.yaml name the same artifacts: each path there is a stage's output, lies inside
    one, or is the folder of some."""
    from pipeline import paths, pretrained
    from pipeline.training import curves

    outputs = dvc_outputs(ROOT)
    named = [value for module in (paths, pretrained) for value in vars(module).values() if isinstance(value, Path)]
    named = [path for path in named if path != pretrained.PRETRAINED]  # the folder of two stages' outputs
    named += [paths.gallery_plot(split) for split in ("val", "test")]
    named += [curves.live(model) for model in ("tagger", "bootstrap", "adapter", "combiner", "adapter_tail")]
    for path in map(str, named):
        assert any(path == out or path.startswith(out + "/") or out.startswith(path + "/") for out in outputs), path
