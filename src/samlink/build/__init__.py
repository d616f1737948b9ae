"""How a build dir is made: the dependency store, installers, the assembled tree, the plan a
warm build replays, the rule for what may ship, Makefiles, init's edits, rebuilds and build state.

May import: `samlink.model` and the ground. `plan` and `tree` use the standard library only (the
console entry imports them before anything else).
"""
