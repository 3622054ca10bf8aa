"""The built-in middleware, at the spec's import path.

>>> from hyperdjango.standalone_middleware import CORSMiddleware, SecurityMiddleware
>>> app.use(SecurityMiddleware(hsts=True, frame_deny=True))

Each lives in ``hyperdjango.middleware``; see docs/middleware.md.
"""

from .middleware import *  # noqa: F403
from .middleware import __all__ as __all__  # noqa: PLC0414
