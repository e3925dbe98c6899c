"""sparsebench harness: sweep specs, the runner, timing, environment capture and the CLI."""
