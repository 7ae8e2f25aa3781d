"""Composed-image-retrieval pipeline: data, feature cache, training, evaluation, packaging."""
