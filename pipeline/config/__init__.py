"""The configurations, beside each other: one frozen dataclass per params.yaml section, each built by
`from_params`, one module per section so that a stage depends on the sections it reads and no other. Plain data and
the shapes they name (a backbone, an untrained tagger); the code that trains or renders with them lives in the
rooms, so a stage that needs only a configuration (size_check, package, verify) never depends on training code.
The data room's `SynthConfig` stays beside the renderer whose artists it checks."""
