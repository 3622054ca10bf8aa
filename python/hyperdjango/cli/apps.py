"""Finding the app: ``--app module:attribute`` imported from the working directory."""

from __future__ import annotations

import importlib
import os
import sys
import traceback

from ..app import HyperApp
from .options import CommandError


def load_app(reference: str) -> HyperApp:
    """Import ``"package.module:attribute"`` and return the ``HyperApp`` it names.

    Every failure is a ``CommandError`` with one line saying what was wrong:
    a malformed reference, a module that is missing or fails to import (with
    the file and line of the error), a missing attribute, or an object that is
    not a ``HyperApp``.
    """
    module_name, _, attribute = reference.partition(":")
    if (
        not module_name
        or not attribute
        or not all(part.isidentifier() for part in [*module_name.split("."), *attribute.split(".")])
    ):
        raise CommandError(
            f"--app must look like module:attribute (e.g. app:app), not {reference!r}"
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is not None and module_name.startswith(error.name):
            raise CommandError(
                f"cannot import {module_name!r}: no module named {error.name!r} "
                f"(run hyper from the folder that holds it)"
            ) from None
        raise CommandError(f"cannot import {module_name!r}: {_describe(error)}") from None
    except Exception as error:  # noqa: BLE001 - the user's module failed: say where, in one line
        raise CommandError(f"cannot import {module_name!r}: {_describe(error)}") from None
    target: object = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise CommandError(
                f"{reference!r} is not a HyperApp: module {module_name!r} has no attribute "
                f"{attribute!r}"
            )
        target = getattr(target, part)
    if not isinstance(target, HyperApp):
        raise CommandError(
            f"{reference!r} is a {type(target).__name__}, not a HyperApp "
            f"(point --app at the HyperApp(...) instance)"
        )
    return target


def _describe(error: BaseException) -> str:
    """``ExceptionType: message (file.py:line)``, the innermost frame of the user's code."""
    frames = traceback.extract_tb(error.__traceback__)
    user_frames = [frame for frame in frames if "importlib" not in frame.filename]
    where = ""
    if isinstance(error, SyntaxError) and error.filename:
        where = f" ({error.filename}:{error.lineno})"
        return f"SyntaxError: {error.msg}{where}"
    if user_frames:
        frame = user_frames[-1]
        where = f" ({frame.filename}:{frame.lineno})"
    return f"{type(error).__name__}: {error}{where}"
