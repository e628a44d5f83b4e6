"""`python -m tickcast` is the `tickcast` command."""

import sys

from tickcast.cli import main

sys.exit(main())
