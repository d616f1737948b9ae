"""Proving and diagnosing: `check` (the release guard), the ELF audit of native code, `doctor`.

May import: `samlink.runtime`, `samlink.build`, `samlink.model` and the ground.
"""
