# Two commands on a fresh machine: `make demo` (set-up + the whole DVC pipeline) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FONT_PACKAGE := fonts-noto-color-emoji
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup font artwork demo test rehearse publish

setup: $(VENV)/.installed font artwork

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstalls only when requirements.txt changes.
$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt
	touch $@

font:
	@if fc-list 2>/dev/null | grep -qi "Noto Color Emoji"; then exit 0; fi; \
	echo "Installing the emoji font ($(FONT_PACKAGE))"; \
	if [ "$$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	{ $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $(FONT_PACKAGE) >/dev/null; } || { \
	  echo "ERROR: could not install $(FONT_PACKAGE). Install it by hand (Debian/Ubuntu: apt-get install $(FONT_PACKAGE));"; \
	  echo "       the synthetic scenes are drawn with Noto Color Emoji."; exit 1; }

# The npm artists (Fluent Emoji 3D, Twemoji): pinned, checksum verified, unpacked into .artwork/ once.
artwork: $(VENV)/.installed
	$(BIN)/python -m pipeline.artwork

demo: setup
	dvc repro

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

# The package in the judge's own environment: a clean Python 3.10 venv of dist/hf_repo/requirements.txt only (cached
# outside the repo by the requirements' hash; the first run downloads torch), no network. After `make demo`.
rehearse: setup
	$(BIN)/python -m pipeline.rehearsal

# make publish REPO_ID=user/name [DRY_RUN=1]; the token comes from HF_TOKEN.
publish: setup
	$(BIN)/python -m pipeline.publish --repo-id $(REPO_ID) $(if $(DRY_RUN),--dry-run)
