"""`hyper systemd install | uninstall`: the unit, generated into a temporary
directory, checked by `systemd-analyze verify` (Debian's systemd package, see
.ci/setup.d) and parsed for every item the spec lists.

systemd is not PID 1 here, so `--enable` and `uninstall` run against a
recording `systemctl` placed first on PATH: the one thing that cannot run here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import APPS, ROOT
from hyperdjango.cli import systemd

UNIT = "hyperdjango-lifecycle.service"


def hyper(
    *words: str, cwd: Path, path_prefix: Path | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    environment.pop("SUDO_USER", None)
    if path_prefix is not None:
        environment["PATH"] = f"{path_prefix}{os.pathsep}{environment['PATH']}"
    return subprocess.run(
        [sys.executable, "-m", "hyperdjango.cli", *words],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
    )


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Sections -> keys -> values (a key may repeat), as systemd reads them."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"key outside a section: {line}"
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "my project"  # a space: quoting must hold
    folder.mkdir()
    shutil.copy(APPS / "lifecycle.py", folder / "app.py")
    return folder


@pytest.fixture
def recording_systemctl(tmp_path: Path) -> tuple[Path, Path]:
    """A `systemctl` that appends its arguments to calls.txt and succeeds."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.txt"
    script = bin_dir / "systemctl"
    script.write_text(f'#!/bin/sh\necho "$*" >> "{calls}"\n')
    script.chmod(0o755)
    return bin_dir, calls


def install(project: Path, *extra: str) -> Path:
    units = project / "units"
    units.mkdir(exist_ok=True)
    result = hyper(
        "systemd",
        "install",
        "--app",
        "app:app",
        "--port",
        "8123",
        "--dir",
        str(units),
        *extra,
        cwd=project,
    )
    assert result.returncode == 0, result.stderr
    return units / UNIT


def test_unit_has_every_item_and_passes_systemd_analyze_verify(project: Path) -> None:
    unit = install(project, "--user", "www-data")
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert verify.returncode == 0, verify.stderr
    assert verify.stderr.strip() == "", verify.stderr  # not even a warning
    sections = parse_unit(unit.read_text())
    service = {key: values[-1] for key, values in sections["Service"].items()}
    assert service["Type"] == "exec"
    assert service["KillSignal"] == "SIGTERM"
    assert service["TimeoutStopSec"] == "30"  # the default drain timeout
    assert service["Restart"] == "on-failure"
    assert service["RestartSec"] == "5"
    assert service["PrivateTmp"] == "true"
    assert service["ProtectSystem"] == "strict"
    assert service["NoNewPrivileges"] == "true"
    assert service["LimitNOFILE"] == "65536"
    assert service["LimitNPROC"] == "4096"
    assert service["KillMode"] == "mixed"
    assert service["User"] == "www-data"
    assert service["WorkingDirectory"] == str(project)
    command = service["ExecStart"].split()
    assert Path(command[0]).is_absolute() and Path(command[0]).samefile(sys.executable)
    assert command[1:] == [
        "-m",
        "hyperdjango.cli",
        "run",
        "--app",
        "app:app",
        "--host",
        "127.0.0.1",
        "--port",
        "8123",
        "--prod",
        "--shutdown-timeout",
        "30.0",
    ]
    assert sections["Install"]["WantedBy"] == ["multi-user.target"]


def test_timeout_stop_sec_follows_the_drain_timeout(project: Path) -> None:
    unit = install(project, "--shutdown-timeout", "45")
    service = parse_unit(unit.read_text())["Service"]
    assert service["TimeoutStopSec"] == ["45"]
    assert service["ExecStart"][0].endswith("--shutdown-timeout 45.0")


def test_default_user_is_never_root(project: Path) -> None:
    unit = install(project)
    user = parse_unit(unit.read_text())["Service"]["User"][0]
    assert user not in ("root", "0", "")
    refused = hyper(
        "systemd", "install", "--app", "app:app", "--user", "root", "--stdout", cwd=project
    )
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        "hyper: refusing User=root; name a non-root user with --user"
    ]


def test_stdout_prints_the_unit_and_writes_nothing(project: Path) -> None:
    unit = install(project)
    printed = hyper(
        "systemd", "install", "--app", "app:app", "--port", "8123", "--stdout", cwd=project
    )
    assert printed.returncode == 0
    assert printed.stdout == unit.read_text()
    assert not list(project.glob("*.service"))


def test_default_location_is_etc_as_root_and_the_working_directory_otherwise(
    monkeypatch: pytest.MonkeyPatch, project: Path
) -> None:
    monkeypatch.chdir(project)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert systemd.default_directory() == Path("/etc/systemd/system")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert systemd.default_directory() == project


def test_enable_reloads_and_enables_now(
    project: Path, recording_systemctl: tuple[Path, Path]
) -> None:
    bin_dir, calls = recording_systemctl
    (project / "units").mkdir()
    result = hyper(
        "systemd",
        "install",
        "--app",
        "app:app",
        "--dir",
        str(project / "units"),
        "--enable",
        cwd=project,
        path_prefix=bin_dir,
    )
    assert result.returncode == 0, result.stderr
    assert calls.read_text().splitlines() == [
        "daemon-reload",
        f"enable --now {project / 'units' / UNIT}",
    ]


def test_uninstall_removes_the_unit_of_this_directory(
    project: Path, recording_systemctl: tuple[Path, Path], tmp_path: Path
) -> None:
    bin_dir, calls = recording_systemctl
    unit = install(project)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # From another directory, nothing matches: one line, and the unit stays.
    missed = hyper(
        "systemd", "uninstall", "--dir", str(unit.parent), cwd=elsewhere, path_prefix=bin_dir
    )
    assert missed.returncode == 1
    assert "no hyperdjango unit for" in missed.stderr
    assert unit.exists()
    removed = hyper(
        "systemd", "uninstall", "--dir", str(unit.parent), cwd=project, path_prefix=bin_dir
    )
    assert removed.returncode == 0, removed.stderr
    assert not unit.exists()
    if os.geteuid() == 0:
        assert calls.read_text().splitlines() == [f"disable --now {UNIT}", "daemon-reload"]


def test_uninstall_by_name(project: Path, recording_systemctl: tuple[Path, Path]) -> None:
    bin_dir, _ = recording_systemctl
    unit = install(project)
    removed = hyper(
        "systemd",
        "uninstall",
        "--dir",
        str(unit.parent),
        "--name",
        "hyperdjango-lifecycle",
        cwd=ROOT,
        path_prefix=bin_dir,
    )
    assert removed.returncode == 0, removed.stderr
    assert not unit.exists()


def test_install_with_a_bad_app_is_one_line(project: Path) -> None:
    result = hyper("systemd", "install", "--app", "app:nothing", "--stdout", cwd=project)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "has no attribute 'nothing'" in result.stderr
