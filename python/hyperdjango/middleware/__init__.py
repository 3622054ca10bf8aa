"""Middleware: ``app.use(mw)`` and the built-ins.

The public import path of the built-ins is ``hyperdjango.standalone_middleware``
(the spec's); this package holds them, one module each, and the chain itself.
"""

from __future__ import annotations

from .chain import CallNext, Middleware, check_middleware, compile_chain

__all__ = ["CallNext", "Middleware", "check_middleware", "compile_chain"]
