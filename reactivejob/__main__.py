"""``python -m reactivejob run ...``: same as ``reactivejob-operator run ...``."""

import sys

from .cli import main

sys.exit(main())
