"""The shipping room: the judge's repo built from `submission_src/` and the trained weights, its verification, the
judge rehearsal in a clean Python 3.10 and publishing. It imports the foundation, data and training, never
measurement: what ships does not depend on how it was scored."""
