"""The judge's `model.py`: the deployed model, `DeployedModel` (its code: rayan_cir/deployed.py).

Every module the model needs lives in the package folder beside this file. The package is loaded from this file's
own folder, under a name made from that folder's path, so nothing in the judge's process can stand in for it: not
the judge's own `model`, `images` or `weights` modules, not the order of sys.path, not the working directory, not
another copy of this repo loaded in the same process.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

PACKAGE = "rayan_cir"


def load_package() -> ModuleType:
    """The package folder beside this file, imported once per process; its modules import each other relatively."""
    folder = Path(__file__).resolve().parent / PACKAGE
    name = f"{PACKAGE}_{hashlib.sha1(str(folder).encode()).hexdigest()[:12]}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, folder / "__init__.py",
                                                      submodule_search_locations=[str(folder)])
        package = importlib.util.module_from_spec(spec)
        sys.modules[name] = package
        try:
            spec.loader.exec_module(package)
        except BaseException:
            del sys.modules[name]
            raise
    return sys.modules[name]


def package_module(concept: str) -> ModuleType:
    """One module of the package, e.g. `package_module("embedding")`."""
    return importlib.import_module(f"{load_package().__name__}.{concept}")


DeployedModel = package_module("deployed").DeployedModel
