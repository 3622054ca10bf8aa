"""Hot reload: edit code or templates, the running server serves the new version.

>>> from hyperdjango.hot_reload import HotReloader
>>> HotReloader(watch_dirs=["myapp/"], extensions=[".py", ".html"]).start()
>>> app.run()   # debug mode

The watcher is ``watchfiles`` (Rust's ``notify``: inotify on Linux, kqueue on
macOS; no polling). On a change to a watched file, the imported modules
loaded from changed ``.py`` files are reloaded with ``importlib.reload()``
and every debug-mode server in this process gets a rebuilt route table: a
route whose handler came from a reloaded module serves the new function. A
module that fails to reload (a syntax error) is logged and the old code
keeps serving; the next save that fixes it reloads. Then one ``reload``
event goes to every browser listening on ``GET /__hyper/reload`` (a
``text/event-stream`` served only while a reloader runs, in debug mode);
HTML responses carry a small script that listens there and reloads the page.

Never active in production: a ``prod=True`` server ignores reloaders and
stops a running one. ``hyper run --reload`` restarts the whole worker
process instead (see docs/hot-reload.md).
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import sys
import threading
import types
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from . import _reload_serving
from .router import Route, Router

__all__ = ["HotReloader"]

logger = logging.getLogger("hyperdjango.reload")

#: Longest and shortest waits (ms) for a burst of file events to settle.
_DEBOUNCE_MS = 400
_STEP_MS = 50


class HotReloader:
    """Watches ``watch_dirs`` for changed files ending in one of ``extensions``.

    ``start()`` begins watching on a background thread; ``stop()`` ends it.
    ``reloads`` counts the reloads done (failed ones not included).
    """

    def __init__(
        self,
        watch_dirs: Iterable[str | os.PathLike[str]],
        extensions: Iterable[str] = (".py", ".html"),
    ) -> None:
        if isinstance(watch_dirs, str | os.PathLike):
            raise TypeError("watch_dirs must be a list of folders, not a single path")
        folders = []
        for folder in watch_dirs:
            path = Path(folder)
            if not path.is_dir():
                raise ValueError(f"watch_dirs: {os.fspath(folder)!r} is not a directory")
            folders.append(path.resolve())
        if not folders:
            raise ValueError("watch_dirs needs at least one folder")
        if isinstance(extensions, str):
            raise TypeError("extensions must be a list such as ['.py', '.html'], not a str")
        suffixes = []
        for extension in extensions:
            if not isinstance(extension, str) or not extension.startswith(".") or extension == ".":
                raise ValueError(f"extensions: {extension!r} must look like '.py'")
            suffixes.append(extension.lower())
        self.watch_dirs: tuple[Path, ...] = tuple(folders)
        self.extensions: tuple[str, ...] = tuple(suffixes)
        self.reloads = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._watching = threading.Event()

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> HotReloader:
        """Start watching (idempotent). Returns ``self``."""
        if self._thread is not None:
            return self
        if _reload_serving.production_server_running():
            logger.warning("hot reload is never active in production mode; not started")
            return self
        import watchfiles  # noqa: F401 - fail here, clearly, if it is missing

        self._stop.clear()
        self._watching.clear()
        self._thread = threading.Thread(target=self._watch, name="hyperdjango-reload", daemon=True)
        self._thread.start()
        self._watching.wait(10)
        _reload_serving.reloader_started(self)
        return self

    def stop(self) -> None:
        """Stop watching; servers stop injecting the script and serving the endpoint."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        thread.join(10)
        _reload_serving.reloader_stopped(self)

    @property
    def running(self) -> bool:
        return self._thread is not None

    def matches(self, path: str | os.PathLike[str]) -> bool:
        """Whether a change to ``path`` triggers a reload."""
        return Path(path).suffix.lower() in self.extensions

    def _watch(self) -> None:
        import watchfiles

        def accept(_change: watchfiles.Change, path: str) -> bool:
            return self.matches(path)

        changes = watchfiles.watch(
            *self.watch_dirs,
            watch_filter=accept,
            debounce=_DEBOUNCE_MS,
            step=_STEP_MS,
            stop_event=self._stop,
            yield_on_timeout=True,
            rust_timeout=200,
            raise_interrupt=False,
            force_polling=False,
        )
        for batch in changes:
            self._watching.set()
            if batch:
                _reload_serving.run_reload(self, {Path(path) for _, path in batch})

    # -- the reload itself (on a serving loop's thread, or the watcher's) --------

    def reload(self, paths: Iterable[Path]) -> bool:
        """Reload the modules loaded from ``paths`` and rebuild every served
        app's routes; then tell the browsers. False if a module failed to
        reload (the previous code keeps serving)."""
        changed = {os.path.realpath(path) for path in paths}
        modules = [
            module
            for module in list(sys.modules.values())
            if isinstance(module, types.ModuleType)
            and getattr(module, "__file__", None)
            and os.path.realpath(module.__file__ or "") in changed
        ]
        if any(module.__name__ == "__main__" for module in modules):
            logger.warning(
                "hot reload: the main script cannot be reloaded in place; "
                "move the code it serves into modules, or use `hyper run --reload`"
            )
            modules = [module for module in modules if module.__name__ != "__main__"]
        if modules and not self._reload_modules(modules):
            return False
        self.reloads += 1
        names = ", ".join(module.__name__ for module in modules) or "no modules"
        logger.info("hot reload #%d: %s", self.reloads, names)
        _reload_serving.reloaded(self.reloads)
        return True

    def _reload_modules(self, modules: list[types.ModuleType]) -> bool:
        names = {module.__name__ for module in modules}
        apps = _reload_serving.served_apps()
        saved = [(app, app.router) for app in apps]
        holders = {
            id(app): [
                (module, attribute)
                for module in modules
                for attribute, value in vars(module).items()
                if value is app
            ]
            for app in apps
        }
        removed: dict[int, list[Route]] = {}
        for app in apps:
            kept, removed[id(app)] = _split(app.router.routes, names)
            app.router = _router_of(kept)
        try:
            for module in modules:
                importlib.reload(module)
        except Exception:  # noqa: BLE001 - any failure keeps the old code
            for app, router in saved:
                app.router = router
            logger.exception(
                "hot reload failed; still serving the previous code until the file is fixed"
            )
            return False
        for app in apps:
            for module, attribute in holders[id(app)]:
                fresh = getattr(module, attribute, None)
                if fresh is not app and type(fresh) is type(app):
                    # The app's own module was reloaded: a new app object took its routes.
                    app.router = fresh.router
            _restore_routes(app.router, removed[id(app)])
        return True


def _split(routes: list[Route], modules: set[str]) -> tuple[list[Route], list[Route]]:
    kept: list[Route] = []
    removed: list[Route] = []
    for route in routes:
        module = getattr(route.handler, "__module__", None)
        (removed if module in modules else kept).append(route)
    return kept, removed


def _router_of(routes: list[Route]) -> Router:
    router = Router()
    for route in routes:
        router._add(route)
    return router


def _restore_routes(router: Router, removed: list[Route]) -> None:
    """Routes a reloaded module's own code did not register again (the app
    registered its functions from elsewhere) come back with the module's new
    function of the same name."""
    present = {(route.pattern, route.methods) for route in router.routes}
    for route in removed:
        if (route.pattern, route.methods) in present:
            continue
        router.route(route.pattern, _new_version(route.handler), route.methods, route.name)


def _new_version(handler: Any) -> Any:
    module = sys.modules.get(getattr(handler, "__module__", "") or "")
    qualname = getattr(handler, "__qualname__", "")
    if module is None or not qualname or "<" in qualname:
        return handler
    try:
        fresh = functools.reduce(getattr, qualname.split("."), module)
    except AttributeError:
        return handler
    return fresh if callable(fresh) else handler
