"""The sealed held-out wording: written by a helper session that saw neither the tagger nor the training wording;
only the test split and its evaluation read it. Nothing may tune on it, so its bytes are pinned here."""
import hashlib

from pipeline.phrasing import SEALED_WORDING, Wording

SEALED_SHA256 = "9c1f955a4514f80d3d4db41a649322a43a7c10a22036b41d7bee3cce631ed1fa"


def test_sealed_wording_is_unchanged():
    assert hashlib.sha256(SEALED_WORDING.read_bytes()).hexdigest() == SEALED_SHA256, (
        f"{SEALED_WORDING} changed: held-out wording is never edited; write a new sealed file instead")


def test_sealed_wording_is_large_and_varied():
    wording = Wording.load(SEALED_WORDING)
    edits = [t for _, group, t in wording.templates() if group != "none"]
    assert len(edits) >= 150 and len(wording.families) >= 12
