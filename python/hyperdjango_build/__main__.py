"""``python -m hyperdjango_build``: the ``hyper-build`` command."""

import sys

from . import main

sys.exit(main())
