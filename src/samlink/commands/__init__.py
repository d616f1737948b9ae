"""One module per command: each a plain function that does the work and returns an exit code.

May import every layer below (`live`, `audit`, `runtime`, `build`, `model`, the ground); only
`samlink.cli` imports these modules.
"""
