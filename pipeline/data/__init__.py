"""The data room: the artwork and object catalog, scene layouts and their renderer, the synthetic splits of each artist, the
out-of-generator split, a team's own data and its manifest, and the wording of queries (phrasing files and WordNet
verbs). It imports the foundation only."""
