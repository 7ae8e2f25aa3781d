"""Composed-image-retrieval pipeline, in rooms that follow the data flow. A room imports from the rooms before it
and from the foundation, never from one after it (tests/test_rooms.py holds the order):

    foundation  params, paths, console, ranking, parse_errors  (read by every room; import no other room)
    data        the artists, scenes and wording a run learns and is measured on
    training    backbones, the feature cache, the tagger and the trainers of the adapter and the tail
    measurement scoring, diagnosis, sweeps and the generated reports
    shipping    the judge's repo: package, verify, rehearse, publish
    app         the search CLI, the Gradio app and its Space

`submission_src/` (the files that ship) imports nothing from here."""
