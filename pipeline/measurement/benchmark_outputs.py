"""The files the benchmarks write (no stage writes them), named here so that the report reads them without
importing the benchmarks, which import the pipeline: the dependency runs one way."""
from pipeline.paths import METRICS

ARTISTS_METRICS = METRICS / "artists.json"  # benchmarks/artists.py
BACKBONE_METRICS = METRICS / "backbone_families.json"  # benchmarks/backbone_families.py
FRESH_CLONE_METRICS = METRICS / "fresh_clone.json"  # benchmarks/fresh_clone.py
TAGGER_RECIPE_METRICS = METRICS / "tagger_recipe.json"  # benchmarks/tagger_recipe.py
TEAM_OBJECTS_METRICS = METRICS / "team_objects.json"  # benchmarks/team_objects.py
TRAINING_SPEED_METRICS = METRICS / "training_speed.json"  # benchmarks/training_speed.py
