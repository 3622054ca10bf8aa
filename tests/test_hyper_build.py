"""`hyper-build`, for real, in the three layouts it meets.

- In the repository (sources + Rust): it builds, with maturin (into a
  temporary folder with --out, so the test venv's own build is untouched).
- With only an installed package (a copy of the built package in a bare
  site folder, as a wheel install leaves it): it checks the module imports and
  is a release build.
- Sources without a toolchain, and no built module: one line, exit 1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT

PACKAGE = ROOT / "python" / "hyperdjango"
BUILD_PACKAGE = ROOT / "python" / "hyperdjango_build"


def hyper_build(
    *words: str, cwd: Path, site: Path | None = None, path: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ)
    environment.pop("PYTHONPATH", None)
    if site is not None:
        environment["PYTHONPATH"] = str(site)  # ahead of the venv's editable install
    if path is not None:
        environment["PATH"] = path
    return subprocess.run(
        [sys.executable, "-m", "hyperdjango_build", *words],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
    )


def installed_layout(site: Path, with_native_module: bool) -> None:
    """``site`` as pip leaves it after installing the wheel (optionally without the .so)."""
    ignore = shutil.ignore_patterns("__pycache__", *([] if with_native_module else ["*.so"]))
    shutil.copytree(PACKAGE, site / "hyperdjango", ignore=ignore)
    shutil.copytree(BUILD_PACKAGE, site / "hyperdjango_build", ignore=ignore)


def test_with_only_the_installed_package_it_checks(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    installed_layout(site, with_native_module=True)
    elsewhere = tmp_path / "app"
    elsewhere.mkdir()
    result = hyper_build("--release", cwd=elsewhere, site=site)
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert line.startswith(
        "hyper-build: checked: the installed native module imports and is a release build"
    )
    assert str(site / "hyperdjango" / "_hyperdjango_native") in line
    assert "running" not in result.stdout  # nothing was built


def test_sources_without_toolchain_or_module_is_one_line(tmp_path: Path) -> None:
    sources = tmp_path / "checkout"
    sources.mkdir()
    for name in ("pyproject.toml", "Cargo.toml"):
        shutil.copy(ROOT / name, sources / name)
    site = tmp_path / "site-packages"
    installed_layout(site, with_native_module=False)
    no_cargo = os.pathsep.join(
        folder for folder in ("/usr/bin", "/bin") if not (Path(folder) / "cargo").exists()
    )
    result = hyper_build("--release", cwd=sources, site=site, path=no_cargo)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"hyper-build: cannot build in {sources}: cargo")
    assert "not found" in lines[0] and "no built native module" in lines[0]
    assert "Traceback" not in result.stderr


def test_check_reports_the_installed_build() -> None:
    result = hyper_build("--check", "--release", cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "is a release build" in result.stdout


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "hyper-build"
    assert script.is_file()
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: hyper-build")


def test_bad_option_is_one_line() -> None:
    result = hyper_build("--relase", cwd=ROOT)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.timeout(900)
def test_in_the_sources_it_builds_a_release_wheel_which_installed_checks(tmp_path: Path) -> None:
    """Fast after `make test`'s release build (cargo finds it fresh); a full
    release build otherwise."""
    if shutil.which("cargo") is None:
        pytest.fail("cargo is needed to build the extension (the project's own build needs it too)")
    out = tmp_path / "wheels"
    result = hyper_build("--release", "--out", str(out), cwd=ROOT / "docs", timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        f"hyper-build: running {Path(sys.executable).parent / 'maturin'} build --release"
        in result.stdout
    )
    (wheel,) = out.glob("hyperdjango-*.whl")
    assert f"built a release wheel: {wheel} from {ROOT}" in result.stdout
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = next(name for name in names if name.endswith("entry_points.txt"))
        scripts = archive.read(entry_points).decode()
    assert any(name.startswith("hyperdjango/_hyperdjango_native") for name in names)
    assert "hyperdjango_build/__init__.py" in names
    assert "hyper-build=hyperdjango_build:main" in scripts.replace(" ", "")
    assert "hyper=hyperdjango.cli:main" in scripts.replace(" ", "")
    # That wheel, installed where there are no sources, is checked, not rebuilt.
    site = tmp_path / "site-packages"
    installed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            "--target",
            str(site),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr
    checked = hyper_build("--release", cwd=tmp_path, site=site)
    assert checked.returncode == 0, checked.stderr
    assert "checked: the installed native module imports and is a release build" in checked.stdout
    assert str(site) in checked.stdout
