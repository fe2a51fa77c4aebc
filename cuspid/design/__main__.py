"""``python -m cuspid.design``: the design engine's command line (see cuspid.design.cli)."""

from cuspid.design.cli import main

raise SystemExit(main())
