"""One module per command: each a plain function that does the work and returns an exit code."""
