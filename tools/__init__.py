"""Developer tools: the process supervisor behind `make run`, the benchmark."""
