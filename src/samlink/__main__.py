"""`python -m samlink`: the same entry as the `samlink` command."""

from samlink.entry import main

raise SystemExit(main())
