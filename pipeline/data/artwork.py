"""Emoji artwork that PyPI lacks, from the npm registry: pinned packages, fetched once at set-up, checksum
verified, unpacked outside git; and where each object's picture lies in them.

`python -m pipeline.data.artwork` (run by `make setup`) fetches every package; it is idempotent, and a package it
cannot fetch stops it with the command that fixes it. Rendering never touches the network: a package that is
not unpacked is named with that command.
"""
from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

ARTWORK_ROOT = Path(__file__).resolve().parents[2] / ".artwork"  # git-ignored, like .venv
FIX = "make setup  (it runs: python -m pipeline.data.artwork)"


class ArtworkMissingError(RuntimeError):
    pass


@dataclass(frozen=True)
class NpmArtwork:
    """One npm package of per-code-point pictures, e.g. `assets/1f3cd-fe0f.webp`."""

    package: str
    version: str
    sha256: str  # of the tarball `npm pack` writes
    folder: str  # inside the tarball: the pictures
    suffix: str
    credit: str

    @property
    def root(self) -> Path:
        return ARTWORK_ROOT / f"{self.package.strip('@').replace('/', '-')}-{self.version}"

    @property
    def pictures(self) -> Path:
        return self.root / self.folder

    @property
    def complete(self) -> Path:
        return self.root / "COMPLETE"  # holds the checksum once every picture is unpacked

    def is_fetched(self) -> bool:
        return self.complete.is_file() and self.complete.read_text().strip() == self.sha256

    def picture(self, codepoint: str) -> Path:
        """The file of one code point; emoji that need the variation selector carry it in their name."""
        if not self.is_fetched():
            raise ArtworkMissingError(f"the artwork {self.package}@{self.version} is not unpacked at {self.root}: "
                                      f"run {FIX}")
        stem = codepoint.lower()
        for name in (stem, f"{stem}-fe0f"):
            path = self.pictures / f"{name}{self.suffix}"
            if path.is_file():
                return path
        raise ArtworkMissingError(f"{self.package}@{self.version} has no picture for U+{codepoint.upper()} "
                                  f"(looked for {stem}{self.suffix} and {stem}-fe0f{self.suffix} in {self.pictures})")

    def fetch(self) -> None:
        if self.is_fetched():
            return
        if shutil.which("npm") is None:
            raise ArtworkMissingError(f"npm is needed once to fetch {self.package}@{self.version}: install Node.js "
                                      f"and npm (Debian: apt-get install npm), then run {FIX}")
        with tempfile.TemporaryDirectory() as scratch:
            packed = subprocess.run(["npm", "pack", f"{self.package}@{self.version}", "--silent"], cwd=scratch,
                                    capture_output=True, text=True)
            tarballs = list(Path(scratch).glob("*.tgz"))
            if packed.returncode != 0 or len(tarballs) != 1:
                reason = packed.stderr.strip()[-500:] or f"{len(tarballs)} tarballs written"
                raise ArtworkMissingError(f"`npm pack {self.package}@{self.version}` failed ({reason}); with "
                                          f"access to the npm registry, run {FIX}")
            with open(tarballs[0], "rb") as f:
                digest = hashlib.file_digest(f, "sha256").hexdigest()
            if digest != self.sha256:
                raise ArtworkMissingError(f"{tarballs[0].name} has sha256 {digest}, not the pinned {self.sha256}: "
                                          f"the registry served other bytes; nothing was unpacked")
            shutil.rmtree(self.root, ignore_errors=True)
            prefix = f"package/{self.folder}/"
            with tarfile.open(tarballs[0]) as tar:
                members = [m for m in tar.getmembers() if m.isfile() and m.name.startswith(prefix)
                           and m.name.endswith(self.suffix)]
                for member in members:
                    member.name = member.name.removeprefix("package/")
                tar.extractall(self.root, members=members, filter="data")
        self.complete.write_text(self.sha256 + "\n")


FLUENT_3D = NpmArtwork("@lobehub/fluent-emoji-3d", "1.1.0",
                       "c1bb7eee7de090205a232518a9ab4adb3df458bfbe8a1f78232991194c8b2e58", "assets", ".webp",
                       "Fluent Emoji 3D by Microsoft (MIT), packaged by LobeHub as @lobehub/fluent-emoji-3d")
TWEMOJI = NpmArtwork("emoji-datasource-twitter", "16.0.0",
                     "f64a530c63bca463bd8317fdc4615ce63a53a0c65018e4ce2d848aaba7a28877", "img/twitter/64", ".png",
                     "Twemoji by Twitter (CC BY 4.0), packaged by iamcal as emoji-datasource-twitter")
PACKAGES = {"fluent3d": FLUENT_3D, "twemoji": TWEMOJI}


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    for artist, artwork in PACKAGES.items():
        fetched = artwork.is_fetched()
        artwork.fetch()
        print(f"{artist}: {artwork.package}@{artwork.version} {'already there' if fetched else 'fetched'} "
              f"({artwork.pictures})")


if __name__ == "__main__":
    try:
        main()
    except ArtworkMissingError as err:
        raise SystemExit(f"ERROR: {err}") from None
