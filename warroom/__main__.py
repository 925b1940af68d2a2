"""``python -m warroom`` is the ``warroom`` command."""

import sys

from warroom.cli.main import main

sys.exit(main())
