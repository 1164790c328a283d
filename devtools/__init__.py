"""Development tooling, not shipped in the wheel: the local stack, the demo, sample data
generators and the worker subprocess the tests and benchmarks start."""
