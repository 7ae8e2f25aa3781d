"""Rehearses the judge's own environment: a clean Python 3.10 venv holding the shipped requirements.txt and nothing
else, the packaged repo alone in a temporary folder, no network at all (a network namespace where the system allows
one, the socket block otherwise), HOME and every cache empty. What pip resolved and downloaded is recorded, and a
shipped file that imports a module none of those distributions provides fails before anything runs.

Usage: python -m pipeline.shipping.rehearsal (`make rehearse`; writes metrics/rehearsal.json)
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.paths import METRICS, REPO
from pipeline.shipping.verify import SOCKET_BLOCK, Interpreter, verify_test_split

REHEARSAL_METRICS = METRICS / "rehearsal.json"  # written by `make rehearse`, outside DVC (so not in pipeline/paths.py)
JUDGE_PYTHON = "3.10"  # the judge runs 3.10.11
JUDGE_SECONDS = 600  # the judge's budget for loading and embedding everything
VENVS = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cir-judge-venvs"  # outside every repo
INSTALL_RECORD = "rehearsal_install.json"  # written last: a venv without it is half-built and is rebuilt
HOW_TO_GET_ONE = ("install one (`pyenv install 3.10.11`, the judge's own; or Debian/Ubuntu `apt-get install "
                  "python3.10 python3.10-venv`) or set verify.judge_python in params.yaml to its path")
# Transport settings pip may keep; every other PIP_* variable and pip.conf (mirrors, constraints, find-links) is this
# machine's, not the judge's.
PIP_TRANSPORT = ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
                 "http_proxy", "https_proxy", "no_proxy")

# Run by the judge's interpreter: for each module named, whether it is the standard library's and which installed
# distributions provide it — importlib.metadata.packages_distributions() as Python 3.11 computes it: 3.10's reads
# only top_level.txt, which wheels of numpy, pandas, open_clip or timm do not have, so the top-level names are
# inferred from the files a distribution installed where it declares none.
PROVIDERS = """
import inspect, json, sys
from importlib.metadata import distributions

def top_level(dist):
    declared = (dist.read_text("top_level.txt") or "").split()
    inferred = {f.parts[0] if len(f.parts) > 1 else inspect.getmodulename(str(f)) or str(f) for f in dist.files or ()}
    return declared or [name for name in inferred if "." not in name]

provided = {}
for dist in distributions():
    for module in top_level(dist):
        provided.setdefault(module, []).append(dist.metadata["Name"])
print(json.dumps({m: {"stdlib": m in sys.stdlib_module_names, "distributions": provided.get(m, [])}
                  for m in sys.argv[1:]}))
"""


def canonical(name: str) -> str:
    """A distribution's name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _python_version(python: Path) -> str | None:
    """The interpreter's version, or None when it does not run (pyenv's shim of a version not selected exits 127)."""
    try:
        out = subprocess.run([str(python), "-c", "import platform; print(platform.python_version())"],
                             capture_output=True, text=True, timeout=60)
    except OSError:
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _pyenv_preference(python: Path) -> tuple[bool, int]:
    """Sort key of a pyenv build: the judge's 3.10.11 first, then the newest patch release."""
    version = python.parents[1].name
    patch = version.split(".")[2] if version.count(".") == 2 else ""
    return version != "3.10.11", -int(patch) if patch.isdigit() else 1


def _candidates() -> list[Path]:
    """pyenv's 3.10 builds (under `pyenv root`: its python3.10 shim fails while another version is selected), then
    python3.10 on PATH."""
    found = []
    if shutil.which("pyenv"):
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip()
        if root:
            found += sorted(Path(root).glob(f"versions/{JUDGE_PYTHON}.*/bin/python{JUDGE_PYTHON}"),
                            key=_pyenv_preference)
    on_path = shutil.which(f"python{JUDGE_PYTHON}")
    return found + ([Path(on_path)] if on_path else [])


def find_judge_python(setting: str = "auto") -> tuple[Path, str]:
    """(interpreter, version) of a Python 3.10: `setting` is 'auto' or a path; stops, saying how to get one."""
    tried = []
    for python in ([Path(setting)] if setting != "auto" else _candidates()):
        version = _python_version(python)
        if version and version.startswith(f"{JUDGE_PYTHON}."):
            return python, version
        tried.append(f"{python} ({f'Python {version}' if version else 'does not run'})")
    tried_text = ", ".join(tried) or f"nothing: no pyenv, no python{JUDGE_PYTHON} on PATH"
    raise SystemExit(f"no Python {JUDGE_PYTHON} interpreter for the rehearsal (tried: {tried_text}): {HOW_TO_GET_ONE}")


def _run(command: list, what: str, env: dict) -> None:
    if subprocess.run([str(part) for part in command], env=env).returncode:
        raise SystemExit(f"rehearsal: {what} failed (its output is above): {' '.join(map(str, command))}")


@dataclass(frozen=True)
class JudgeEnvironment:
    """A venv of the judge's Python holding the shipped requirements only.

    Args:
        python: the venv's interpreter.
        record: the interpreter's version, the requirements' hash, what pip resolved (name -> version), the bytes
            of every file it downloaded, how long the install took, and whether this run reused the venv.
    """

    python: Path
    record: dict

    @classmethod
    def build(cls, requirements: Path, interpreter: Path, version: str, root: Path = VENVS) -> "JudgeEnvironment":
        """The venv for these exact requirements on this Python version: reused when it exists, else made by pip as
        the judge runs it (the index only, no configuration of this machine), files downloaded first to count their
        bytes."""
        key = hashlib.sha256(requirements.read_bytes() + version.encode()).hexdigest()[:16]
        folder = root / f"py{version}-{key}"
        python = folder / "bin" / "python"
        if (folder / INSTALL_RECORD).is_file():
            return cls(python, json.loads((folder / INSTALL_RECORD).read_text()) | {"reused": True})
        shutil.rmtree(folder, ignore_errors=True)
        root.mkdir(parents=True, exist_ok=True)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/"),
               "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
        env |= {name: os.environ[name] for name in PIP_TRANSPORT if name in os.environ}
        print(f"rehearsal: a Python {version} venv for {requirements} (key {key}) in {folder}", flush=True)
        started = time.perf_counter()
        _run([interpreter, "-m", "venv", folder], f"python{JUDGE_PYTHON} -m venv", env)
        with tempfile.TemporaryDirectory(dir=root) as downloads:
            pip = [python, "-m", "pip"]
            _run(pip + ["download", "--no-cache-dir", "-d", downloads, "-r", requirements], "pip download", env)
            downloaded = {p.name: p.stat().st_size for p in sorted(Path(downloads).iterdir())}
            _run(pip + ["install", "--no-cache-dir", "--no-index", "--find-links", downloads, "--report",
                        folder / "pip_report.json", "-r", requirements], "pip install", env)
        report = json.loads((folder / "pip_report.json").read_text())
        record = {"python": version, "interpreter": str(interpreter), "venv": str(folder),
                  "requirements_sha256": hashlib.sha256(requirements.read_bytes()).hexdigest(),
                  "pip": report.get("pip_version"),
                  "resolved": {item["metadata"]["name"]: item["metadata"]["version"] for item in report["install"]},
                  "downloaded_bytes": sum(downloaded.values()), "downloaded_files": downloaded,
                  "install_seconds": time.perf_counter() - started}
        (folder / INSTALL_RECORD).write_text(json.dumps(record, indent=2) + "\n")
        return cls(python, record | {"reused": False})


def requirement_names(requirements: Path) -> set[str]:
    """The distributions requirements.txt names (canonical), without versions, markers or comments."""
    lines = (line.split("#")[0].strip() for line in requirements.read_text().splitlines())
    return {canonical(re.match(r"[A-Za-z0-9._-]+", line).group()) for line in lines if line and line[0] != "-"}


def shipped_imports(repo: Path) -> dict[str, list[str]]:
    """Top-level modules the repo's Python files import (absolute imports, wherever they stand), each with the files
    that import it; the repo's own modules are left out."""
    own = {p.stem for p in repo.glob("*.py")} | {p.name for p in repo.iterdir() if (p / "__init__.py").is_file()}
    imports: dict[str, set[str]] = {}
    for path in sorted(repo.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            else:
                continue
            for module in {name.split(".")[0] for name in names} - own:
                imports.setdefault(module, set()).add(str(path.relative_to(repo)))
    return {module: sorted(files) for module, files in sorted(imports.items())}


@dataclass(frozen=True)
class ImportCheck:
    """Which imports of the shipped files the shipped list covers.

    Args:
        problems: one line per module no listed distribution provides, naming the files and, where this interpreter
            has one, the distribution that would.
        through_dependencies: module -> distribution for imports that only a dependency of a listed package provides
            (they install, but a change of that package's dependencies drops them).
    """

    problems: list[str]
    through_dependencies: dict[str, str]


def check_imports(repo: Path, python: Path, installed: set[str], named: set[str]) -> ImportCheck:
    """Every import of `repo` against the distributions `python` has: `installed` are the ones the shipped list put
    there (canonical names: the requested ones and their dependencies), `named` the ones it names itself."""
    imports = shipped_imports(repo)
    providers = _providers(python, list(imports))
    problems, through_dependencies = [], {}
    for module, files in imports.items():
        if providers[module]["stdlib"]:
            continue
        listed = [d for d in providers[module]["distributions"] if canonical(d) in installed]
        if not listed:
            here = sorted(set(_providers(Path(sys.executable), [module])[module]["distributions"]))
            elsewhere = f" (in the pipeline's environment {', '.join(here)} provides it)" if here else ""
            problems.append(f"{', '.join(files)} import(s) `{module}`, which no distribution of the shipped "
                            f"requirements.txt provides{elsewhere}: add it to submission_src/requirements.txt")
        elif not any(canonical(d) in named for d in listed):
            through_dependencies[module] = listed[0]
    return ImportCheck(problems, through_dependencies)


def _providers(python: Path, modules: list[str]) -> dict[str, dict]:
    out = subprocess.run([str(python), "-I", "-c", PROVIDERS, *modules], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@dataclass(frozen=True)
class Offline:
    """How the judge's process is cut from the network: the report's words, a command prefix, Python run first."""

    mode: str
    prefix: tuple[str, ...]
    prelude: str


SOCKET_FALLBACK = Offline("socket block (no network namespace allowed here: connect() to any IP address raises in "
                          "the process)", (), SOCKET_BLOCK)


def offline() -> Offline:
    """A network namespace (only a loopback that is down: no address at all answers) where `unshare` may make one —
    as root, or in a user namespace — else the socket block inside the process."""
    for prefix in (("unshare", "--net"), ("unshare", "--map-root-user", "--net")):
        if shutil.which(prefix[0]) and subprocess.run([*prefix, "true"], capture_output=True).returncode == 0:
            return Offline(f"network namespace ({' '.join(prefix)})", prefix, "")
    return SOCKET_FALLBACK


def time_budget(result: dict) -> dict:
    """Seconds per item from this run, and what the judge's 10 minutes hold at these rates: as many database
    images as the split has per query. Measured on this machine's device, which the statement names."""
    per_image = result["database_seconds"] / result["database"]
    per_query = result["queries_seconds"] / result["queries"]
    fixed = result["import_seconds"] + result["load_seconds"]
    queries_per_image = result["queries"] / result["database"]
    images = int((JUDGE_SECONDS - fixed) / (per_image + queries_per_image * per_query))
    if result["device"] == "cpu":
        basis = ("CPU figure (no GPU here): the judge runs on an RTX 4090, where the encoders run far faster; this is "
                 "the CPU's capacity, not the judge's")
    else:
        basis = (f"GPU figure on {result['device']}; assumes the judge's RTX 4090 embeds at least as fast (not "
                 f"measured there)")
    return {"seconds_per_database_image": per_image, "seconds_per_query": per_query, "fixed_seconds": fixed,
            "judge_seconds": JUDGE_SECONDS, "images_in_budget": images,
            "queries_in_budget": int(images * queries_per_image), "basis": basis}


def card_line(result: dict) -> str:
    """The model card's line saying where the package was rehearsed."""
    named = requirement_names(Path(result["repo"]) / "requirements.txt")
    packages = ", ".join(f"{name}=={version}" for name, version in sorted(result["install"]["resolved"].items())
                         if canonical(name) in named)
    return (f"Rehearsed on Python {result['install']['python']}, packages {packages} (pip install -r "
            f"requirements.txt, nothing else), offline ({result['network']}): test Top-1 {result['top1']:.4f}.")


def repo_fingerprint(repo: Path) -> str:
    """sha256 over every file of the repo but its model card, so a card line can name what was rehearsed."""
    digest = hashlib.sha256()
    for path in sorted(p for p in repo.rglob("*") if p.is_file() and p.name != "README.md"):
        digest.update(str(path.relative_to(repo)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def rehearse(judge_python: str = "auto", repo: Path = REPO) -> dict:
    """The test split run by `repo` in the judge's environment, checked as `verify` checks it; with what was
    installed, how the network was cut, timings and the model card's line."""
    if not (repo / "generate_embeds.py").is_file():
        raise SystemExit(f"{repo} holds no packaged repo: run `dvc repro package` first")
    interpreter, version = find_judge_python(judge_python)
    environment = JudgeEnvironment.build(repo / "requirements.txt", interpreter, version)
    imports = check_imports(repo, environment.python, {canonical(name) for name in environment.record["resolved"]},
                            requirement_names(repo / "requirements.txt"))
    if imports.problems:
        raise SystemExit("rehearsal: the shipped files import what the judge will not install:\n  "
                         + "\n  ".join(imports.problems))
    network = offline()
    with tempfile.TemporaryDirectory() as tmp:  # the repo alone, away from this project's files
        copy = Path(shutil.copytree(repo, Path(tmp) / "hf_repo"))
        result = verify_test_split(Interpreter(str(environment.python), network.prefix, network.prelude, True), copy)
    result |= {"environment": "judge", "repo": str(repo), "repo_sha256": repo_fingerprint(repo),
               "network": network.mode, "install": environment.record,
               "imports_through_dependencies": imports.through_dependencies, "time_budget": time_budget(result)}
    result["card_line"] = card_line(result)
    return result


def main() -> None:
    from pipeline.config.runs import VerifyConfig
    from pipeline.config.section import load_section

    result = rehearse(load_section(VerifyConfig).judge_python)
    REHEARSAL_METRICS.write_text(json.dumps(result, indent=2) + "\n")
    install, budget = result["install"], result["time_budget"]
    print(f"rehearsed on Python {install['python']} ({'reused venv' if install['reused'] else 'new venv'}, pip "
          f"resolved {len(install['resolved'])} distributions, {install['downloaded_bytes'] / 1e9:.2f} GB of "
          f"downloads), {result['network']}, device {result['device']}\n"
          f"Top-1 {result['top1']:.4f} vs evaluate's {result['evaluate_top1']:.4f}; min cosine "
          f"{result['min_cosine']:.5f}; caches left empty: {result['caches_left_empty']}\n"
          f"seconds: import {result['import_seconds']:.1f}, load {result['load_seconds']:.1f}, database "
          f"{result['database_seconds']:.1f} ({result['database']} images), queries {result['queries_seconds']:.1f} "
          f"({result['queries']}); 10 minutes hold ~{budget['images_in_budget']} images + "
          f"{budget['queries_in_budget']} queries: {budget['basis']}\n{result['card_line']}\n"
          f"imports only a dependency of a listed package provides (fragile): "
          f"{result['imports_through_dependencies'] or 'none'}\n"
          f"-> {REHEARSAL_METRICS}")
    if result["problems"]:
        sys.exit("rehearsal failed: " + "; ".join(result["problems"]))


if __name__ == "__main__":
    main()
