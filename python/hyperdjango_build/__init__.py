"""``hyper-build``: build hyperdjango's native extension, or check the installed one.

    hyper-build --release            build (sources + Rust) or check (installed wheel)
    hyper-build --release --out DIR  build a wheel into DIR instead of installing it
    hyper-build --check              never build; check the installed native module

Where the hyperdjango sources (``pyproject.toml`` naming the native module and
``Cargo.toml``, found from the working directory upwards, or beside an
editable install) and a Rust toolchain (cargo, maturin) are present, it builds
the extension with maturin: ``maturin develop`` in a virtual environment, a
wheel installed with pip elsewhere. Where only an installed wheel is (a Docker
runtime stage), it checks in a fresh interpreter that the native module
imports and is a release build. Anything else is one line saying what is
missing, and exit status 1.

A package of its own, beside ``hyperdjango`` rather than in it: importing
``hyperdjango`` needs the native module, and this must run when there is none.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

__all__ = ["main"]

MODULE = "hyperdjango._hyperdjango_native"


class BuildError(Exception):
    """What went wrong, as one line for the user."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def find_sources(start: Path) -> Path | None:
    """The hyperdjango source tree holding ``start``, or the one an editable install uses."""
    candidates = [start, *start.parents]
    package = importlib.util.find_spec("hyperdjango")  # locates; runs nothing
    if package is not None and package.origin is not None:
        candidates += list(Path(package.origin).resolve().parents)[1:3]
    for folder in candidates:
        pyproject = folder / "pyproject.toml"
        if (folder / "Cargo.toml").is_file() and pyproject.is_file():
            if MODULE in pyproject.read_text(errors="replace"):
                return folder
    return None


def find_maturin() -> str | None:
    beside_python = Path(sys.executable).parent / "maturin"
    if beside_python.is_file():
        return str(beside_python)
    return shutil.which("maturin")


def in_virtual_environment() -> bool:
    return sys.prefix != sys.base_prefix or "VIRTUAL_ENV" in os.environ


def installed_build() -> tuple[str, str]:
    """``(profile, path)`` of the native module, as a fresh interpreter imports it."""
    probe = (
        f"import {MODULE} as native; "
        "print(getattr(native, 'BUILD_PROFILE', 'unknown')); print(native.__file__)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        raise BuildError(f"no built native module ({lines[-1] if lines else 'it does not import'})")
    profile, path = result.stdout.split("\n")[:2]
    return profile, path


def check_installed(release: bool) -> str:
    profile, path = installed_build()
    if release and profile != "release":
        raise BuildError(
            f"the installed native module is a {profile} build ({path}); "
            "install a release wheel, or run hyper-build --release in the sources"
        )
    return f"checked: the installed native module imports and is a {profile} build ({path})"


def build(sources: Path, maturin: str, release: bool, out: Path | None) -> str:
    """Runs maturin (and pip, outside a virtual environment); returns what was done."""
    kind = "release" if release else "debug"
    profile = ["--release"] if release else []
    if out is None and in_virtual_environment():
        _run([maturin, "develop", *profile], sources)
        return f"built and installed the native extension ({kind}, maturin develop)"
    wheels = out if out is not None else Path(tempfile.mkdtemp(prefix="hyper-build-"))
    before = set(wheels.glob("*.whl"))
    _run([maturin, "build", *profile, "--out", str(wheels)], sources)
    built = sorted(set(wheels.glob("*.whl")) - before) or sorted(wheels.glob("*.whl"))
    if out is not None:
        return f"built a {kind} wheel: {', '.join(str(wheel) for wheel in built)}"
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--force-reinstall"]
    _run([*pip, *map(str, built)], sources)
    return f"built and pip-installed the native extension ({kind} wheel)"


def _run(command: list[str], folder: Path) -> None:
    print(f"hyper-build: running {' '.join(command)}", flush=True)
    environment = dict(os.environ)
    if in_virtual_environment():
        environment.setdefault("VIRTUAL_ENV", sys.prefix)  # maturin develop needs it
    result = subprocess.run(command, cwd=folder, env=environment)
    if result.returncode != 0:
        raise BuildError(
            f"{Path(command[0]).name} failed (exit status {result.returncode}); see above"
        )


def run(arguments: argparse.Namespace) -> str:
    """Builds or checks, as the layout allows; returns the report line."""
    sources = None if arguments.check else find_sources(Path.cwd().resolve())
    if sources is None:
        return check_installed(arguments.release)
    maturin = find_maturin()
    missing = [
        name
        for name, found in (("cargo", shutil.which("cargo")), ("maturin", maturin))
        if not found
    ]
    if missing or maturin is None:
        try:
            checked = check_installed(arguments.release)
        except BuildError as error:
            raise BuildError(
                f"cannot build in {sources}: {' and '.join(missing)} not found (install Rust from "
                f"https://rustup.rs, then pip install maturin), and {error}"
            ) from None
        return f"{' and '.join(missing)} not found, so nothing was built; {checked}"
    started = time.monotonic()
    done = build(sources, maturin, arguments.release, arguments.out)
    report = f"{done} from {sources} in {time.monotonic() - started:.0f} s"
    if arguments.out is None:
        report += f"; {check_installed(arguments.release)}"
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hyper-build`` console script; returns the exit status."""
    parser = _Parser(
        prog="hyper-build",
        description="Build hyperdjango's native extension from the sources (maturin), or "
        "check the installed one where there are no sources.",
    )
    parser.add_argument("--release", action="store_true", help="an optimised release build")
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="build a wheel into DIR instead of installing it"
    )
    parser.add_argument(
        "--check", action="store_true", help="only check the installed module, never build"
    )
    arguments = parser.parse_args(argv)
    try:
        print(f"hyper-build: {run(arguments)}", flush=True)
    except BuildError as error:
        print(f"hyper-build: {error}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("hyper-build: interrupted", file=sys.stderr, flush=True)
        return 130
    return 0
