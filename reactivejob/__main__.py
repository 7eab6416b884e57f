"""``python -m reactivejob run ...``: same as ``reactivejob-operator run ...``."""

import sys

from reactivejob.serve.cli import main

sys.exit(main())
