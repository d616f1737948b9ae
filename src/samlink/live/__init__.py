"""Watching and syncing: linked-source watchers, `samlink sync`'s one SAM process, and the
keeper that holds local build dirs fresh (`samlink watch`).

May import: `samlink.audit`, `samlink.runtime`, `samlink.build`, `samlink.model` and the ground.
"""
