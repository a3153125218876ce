"""``python -m hrinpaint.cli``."""

import sys

from hrinpaint.cli import main

sys.exit(main())
