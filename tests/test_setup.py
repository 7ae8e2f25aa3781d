"""The environment `make setup` builds: requirements.txt's pins agree with requirements.lock, and what is
installed is what the lock says (uv and pip both install at its versions)."""
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from pipeline.shipping.rehearsal import canonical

ROOT = Path(__file__).resolve().parents[1]


def pins(path: Path) -> dict[str, str]:
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return {canonical(name): pinned for name, _, pinned in (line.partition("==") for line in lines if "==" in line)}


def test_the_lock_pins_every_requirement_at_its_own_version():
    required, locked = pins(ROOT / "requirements.txt"), pins(ROOT / "requirements.lock")
    assert required and {name: locked.get(name) for name in required} == required


def test_the_environment_is_the_locked_one():
    def installed(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None
    locked = pins(ROOT / "requirements.lock")
    assert {name: installed(name) for name in locked} == locked


def test_setup_installs_the_hook_that_refuses_long_commit_subjects(tmp_path):
    """`make hooks` (part of `make setup`) points git at .githooks/, whose commit-msg hook refuses a subject over
    72 characters and takes one within it."""
    import shutil
    import subprocess

    shutil.copytree(ROOT / ".githooks", tmp_path / ".githooks")
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["make", "-s", "-f", str(ROOT / "Makefile"), "-C", str(tmp_path), "hooks"], check=True)
    refused = subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x" * 73], capture_output=True, text=True)
    assert refused.returncode != 0 and "72" in refused.stderr
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x" * 72, "-m", "the details"], check=True)
