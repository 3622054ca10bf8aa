"""``python -m hyperdjango.cli``: the ``hyper`` command (``hyper start`` runs its daemon this way)."""

import sys

from . import main

sys.exit(main())
