"""The measurement room: scoring under the judge's protocol, the tagger's and the retrieval's diagnosis, galleries,
timings, the sweep table and the generated reports. It imports the foundation, data and training."""
