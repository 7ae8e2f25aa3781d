"""A packaged repo loaded in this process as a judge's harness may load it: its `generate_embeds.py` by file path,
its package under the per-folder name its own `model.py` gives it. Standard library only: the app's Space ships it."""
from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType


def _load_file(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"repo_file_{abs(hash(str(path.resolve())))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class LoadedRepo:
    """A packaged repo loaded in this process: its `generate_embeds` by file path, as a judge's importlib does,
    and its package under the per-folder name its model.py gives it (so several repos load side by side)."""

    folder: Path
    entry: ModuleType  # the repo's generate_embeds
    package: ModuleType

    @classmethod
    def load(cls, folder: Path) -> "LoadedRepo":
        folder = Path(folder).resolve()
        entry = _load_file(folder / "generate_embeds.py")
        return cls(folder, entry, _load_file(folder / "model.py").load_package())

    def module(self, concept: str) -> ModuleType:
        """One of the repo's own package modules (`embedding`, `images`, …)."""
        return importlib.import_module(f"{self.package.__name__}.{concept}")

    @property
    def model(self):
        """The repo's DeployedModel, as its generate_embeds loads it (once per process)."""
        return self.module("embedding").deployed(self.folder / "weights.pth")
