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
