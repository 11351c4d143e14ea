"""The AUTOMATIC1111/Forge engine: A1111 v1.10.x generation semantics (noise, prompt
syntax, sigma schedules, samplers), written in this project and checked against goldens
produced by running A1111's own code (tests/goldens/a1111/)."""
