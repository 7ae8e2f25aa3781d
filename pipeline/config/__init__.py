"""The configurations, beside each other: one frozen dataclass per params.yaml section, built strictly from it by
`section.load_section` (an unknown, missing or mistyped key is named with its section; `sections.check_params`
checks them all), a module per section or two, so that a stage depends on the sections it reads and no other.
Plain data and the shapes they name (a backbone, an untrained tagger); the code that trains or renders with them
lives in the rooms, so a stage that needs only a configuration (size_check, package, verify) never depends on
training code."""
