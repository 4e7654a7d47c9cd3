"""Allow ``python -m kalend`` as well as the ``kalend`` script."""

from kalend.server.cli import main

raise SystemExit(main())
