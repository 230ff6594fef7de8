"""Development tools: synthetic phantoms, benchmarks and random models (masks mean nothing)."""
