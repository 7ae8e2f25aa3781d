"""The rehearsal's own checks, fast: the import check on a fake shipped repo, the judge's interpreter search, and a
network cut that a local listener proves (the full rehearsal downloads torch: `make rehearse`)."""
import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.shipping.rehearsal import (
    INSTALL_RECORD,
    SOCKET_FALLBACK,
    JudgeEnvironment,
    Offline,
    check_imports,
    find_judge_python,
    offline,
    requirement_names,
)

ROOT = Path(__file__).resolve().parents[1]


def fake_repo(folder: Path, requirements: str) -> Path:
    """A shipped repo whose generate_embeds.py imports numpy (listed), yaml (PyYAML, in this environment only), the
    standard library and its sibling model.py, which imports torch inside a function."""
    folder.mkdir()
    (folder / "generate_embeds.py").write_text("import json\nimport os.path\n\nimport numpy as np\nimport yaml\n\n"
                                               "from model import Model\n")
    (folder / "model.py").write_text("from . import weights  # noqa\n\n\nclass Model:\n    def load(self):\n"
                                     "        import torch.nn.functional\n")
    (folder / "requirements.txt").write_text(requirements)
    return folder


def test_an_import_missing_from_the_requirements_fails_naming_the_package(tmp_path):
    repo = fake_repo(tmp_path / "repo", "# the judge's packages\nnumpy==2.2.6\ntorch==2.5.1  # the model\n")
    listed = requirement_names(repo / "requirements.txt")
    assert listed == {"numpy", "torch"}
    check = check_imports(repo, Path(sys.executable), listed, listed)
    assert len(check.problems) == 1
    assert "generate_embeds.py" in check.problems[0] and "`yaml`" in check.problems[0]
    assert "pipeline's environment PyYAML provides it" in check.problems[0]  # so the fix is plain
    (repo / "requirements.txt").write_text("numpy==2.2.6\ntorch==2.5.1\npyyaml==6.0.3\n")
    listed = requirement_names(repo / "requirements.txt")
    assert check_imports(repo, Path(sys.executable), listed, listed).problems == []
    # installed only as a dependency of a listed package: it installs, and is recorded as fragile
    through = check_imports(repo, Path(sys.executable), listed, listed - {"pyyaml"})
    assert through.problems == [] and through.through_dependencies == {"yaml": "PyYAML"}


def test_the_shipped_files_import_only_what_their_requirements_name(tmp_path):
    repo = shutil.copytree(ROOT / "submission_src", tmp_path / "repo", ignore=shutil.ignore_patterns("__init__.py"))
    listed = requirement_names(repo / "requirements.txt")
    check = check_imports(repo, Path(sys.executable), listed, listed)
    assert check.problems == [] and check.through_dependencies == {}


def test_no_judge_python_says_how_to_get_one(tmp_path):
    with pytest.raises(SystemExit, match=r"nothing-here/python3.10 \(does not run\)\): install one \(`pyenv install"):
        find_judge_python(str(tmp_path / "nothing-here" / "python3.10"))
    with pytest.raises(SystemExit, match=rf"\(Python {sys.version_info.major}\.{sys.version_info.minor}\.\d+\)"):
        find_judge_python(sys.executable)  # the pipeline's 3.11 is no judge


@pytest.fixture
def listening_port():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen()
    yield server.getsockname()[1]
    server.close()


PROBE = """
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5).close()
    print("connected")
except OSError as error:
    print(f"blocked: {error}")
"""


def probe(mode: Offline, port: int) -> str:
    return subprocess.run([*mode.prefix, sys.executable, "-c", mode.prelude + PROBE, str(port)], capture_output=True,
                          text=True, check=True).stdout.strip()


@pytest.mark.parametrize("which", ["this machine's", "fallback"])
def test_the_judge_process_reaches_no_address(listening_port, which):
    """A listener on 127.0.0.1 answers a plain process; the rehearsal's process (in a network namespace where this
    machine allows one, else with the socket block; and the socket block itself) cannot reach it."""
    mode = offline() if which == "this machine's" else SOCKET_FALLBACK
    assert probe(Offline("open", (), ""), listening_port) == "connected"
    assert probe(mode, listening_port).startswith("blocked"), mode.mode
    assert mode.mode.startswith("network namespace") == bool(mode.prefix) != bool(mode.prelude)  # named as it cut


def judge_python_or_skip() -> tuple[Path, str]:
    try:
        return find_judge_python()
    except SystemExit as missing:
        pytest.skip(str(missing))


def test_the_venv_is_cached_by_its_requirements(tmp_path):
    """A small requirement (one pure wheel): built once with what pip resolved and downloaded, reused while the
    requirements stay, rebuilt when they change or when a build was cut short."""
    python, version = judge_python_or_skip()
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("tomli==2.0.1\n")
    try:
        built = JudgeEnvironment.build(requirements, python, version, tmp_path / "venvs")
    except SystemExit as failed:
        pytest.skip(f"no package index reachable: {failed}")
    assert not built.record["reused"] and built.record["resolved"] == {"tomli": "2.0.1"}
    assert built.record["downloaded_bytes"] == sum(built.record["downloaded_files"].values()) > 1000
    assert subprocess.run([built.python, "-c", "import tomli"]).returncode == 0
    # tomli's wheel declares no top_level.txt, all that Python 3.10's packages_distributions() reads
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "generate_embeds.py").write_text("import tomli\nimport yaml\n")
    check = check_imports(repo, built.python, {"tomli"}, {"tomli"})
    assert len(check.problems) == 1 and "`yaml`" in check.problems[0]
    again = JudgeEnvironment.build(requirements, python, version, tmp_path / "venvs")
    assert again.record["reused"] and again.python == built.python
    (built.python.parents[1] / INSTALL_RECORD).unlink()  # as a build killed before its end leaves it
    assert not JudgeEnvironment.build(requirements, python, version, tmp_path / "venvs").record["reused"]
    requirements.write_text("tomli==2.0.0\n")
    changed = JudgeEnvironment.build(requirements, python, version, tmp_path / "venvs")
    assert changed.python != built.python and changed.record["resolved"] == {"tomli": "2.0.0"}
    assert json.loads((changed.python.parents[1] / INSTALL_RECORD).read_text())["python"] == version


def test_the_card_gains_the_rehearsal_line_only_for_the_files_rehearsed(tmp_path):
    from pipeline.shipping.publish import card_with_rehearsal
    from pipeline.shipping.rehearsal import repo_fingerprint

    repo = fake_repo(tmp_path / "repo", "numpy==2.2.6\n")
    (repo / "README.md").write_text("# a model\n")
    record = tmp_path / "rehearsal.json"
    assert card_with_rehearsal(repo, record) == ("# a model\n", card_with_rehearsal(repo, record)[1])
    assert "not rehearsed" in card_with_rehearsal(repo, record)[1]
    line = "Rehearsed on Python 3.10.13, packages numpy==2.2.6 (...), offline (network namespace (unshare --net))."
    record.write_text(json.dumps({"repo_sha256": repo_fingerprint(repo), "card_line": line, "problems": []}))
    assert card_with_rehearsal(repo, record) == (f"# a model\n\n{line}\n", line)
    (repo / "README.md").write_text("# a model, its card edited\n")  # the card is not what was rehearsed
    assert card_with_rehearsal(repo, record)[0].endswith(f"{line}\n")
    (repo / "model.py").write_text("class Model:\n    pass\n")  # the code is
    card, said = card_with_rehearsal(repo, record)
    assert line not in card and "make rehearse" in said
