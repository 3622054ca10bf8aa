"""The Dockerfile and .dockerignore at the repository root, parsed (no Docker
daemon here): a multi-stage build whose builder has the Rust toolchain and
builds the wheel, a runtime that pip-installs it and runs `hyper-build
--release`, a non-root user, STOPSIGNAL SIGTERM, a HEALTHCHECK, EXPOSE 8000 and
an exec-form CMD serving an app that exists in the repository.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import ROOT
from hyperdjango import HyperApp


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [value for instruction, value in self.instructions if instruction == keyword]

    def last(self, keyword: str) -> str:
        values = self.all(keyword)
        assert values, f"stage {self.name or self.base} has no {keyword}"
        return values[-1]


def parse_dockerfile(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARGs and stages; continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    arguments: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, value = line.partition(" ")
        keyword = keyword.upper()
        value = value.strip()
        if keyword == "FROM":
            words = value.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        elif not stages:
            assert keyword == "ARG", f"{keyword} before the first FROM"
            key, _, default = value.partition("=")
            arguments[key] = default
        else:
            stages[-1].instructions.append((keyword, value))
    return arguments, stages


@pytest.fixture(scope="module")
def dockerfile() -> tuple[dict[str, str], list[Stage]]:
    return parse_dockerfile((ROOT / "Dockerfile").read_text())


def runs(stage: Stage) -> str:
    return "\n".join(stage.all("RUN"))


def test_multi_stage_builder_builds_the_wheel_with_rust(dockerfile) -> None:
    arguments, stages = dockerfile
    assert len(stages) >= 2
    builder = stages[0]
    assert builder.name == "builder"
    assert "python:" in builder.base and "-slim" in builder.base
    assert arguments.get("PYTHON_VERSION"), "the Python version is one ARG for both stages"
    commands = runs(builder)
    assert "rustup" in commands  # the Rust toolchain lives in the builder only
    assert "maturin build --release" in commands
    # The sources the build needs are copied, and none of them is ignored.
    copied = [word for value in builder.all("COPY") for word in shlex.split(value)[:-1]]
    for required in ("Cargo.toml", "Cargo.lock", "pyproject.toml", "src", "python"):
        assert required in copied
    ignored = dockerignore_patterns()
    for source in copied:
        assert (ROOT / source).exists(), source
        assert not is_ignored(source, ignored), f"{source} is copied but .dockerignore drops it"


def test_runtime_installs_the_wheel_and_checks_it_with_hyper_build(dockerfile) -> None:
    _, stages = dockerfile
    runtime = stages[-1]
    assert runtime.base == stages[0].base  # same Python as the wheel was built for
    copies = runtime.all("COPY")
    assert any(copy.startswith("--from=builder") and "/wheels" in copy for copy in copies)
    commands = runs(runtime)
    assert "pip install" in commands and ".whl" in commands
    assert "hyper-build --release" in commands
    assert "rustup" not in commands and "cargo" not in commands  # no toolchain at run time
    assert commands.index("pip install") < commands.index("hyper-build --release")


def test_runtime_runs_as_a_non_root_user(dockerfile) -> None:
    _, stages = dockerfile
    runtime = stages[-1]
    user = runtime.last("USER").split(":")[0]
    assert user not in ("root", "0", "")
    assert any("useradd" in run and run.endswith(f" {user}") for run in runtime.all("RUN"))
    # USER comes after every RUN that needs root (pip, useradd).
    keywords = [keyword for keyword, _ in runtime.instructions]
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k == "RUN")


def test_stop_signal_healthcheck_and_port(dockerfile) -> None:
    _, stages = dockerfile
    runtime = stages[-1]
    assert runtime.last("STOPSIGNAL") == "SIGTERM"
    assert runtime.last("EXPOSE") == "8000"
    healthcheck = runtime.last("HEALTHCHECK")
    options, _, command = healthcheck.partition(" CMD ")
    assert "--interval=" in options and "--timeout=" in options
    probe = json.loads(command)  # exec form
    assert probe[:2] == ["python", "-c"]
    compile(probe[2], "<healthcheck>", "exec")  # valid Python
    assert "8000" in probe[2]


def test_cmd_is_exec_form_and_serves_an_app_in_the_repository(dockerfile) -> None:
    _, stages = dockerfile
    runtime = stages[-1]
    command = json.loads(runtime.last("CMD"))  # exec form: a JSON array
    assert command[:3] == ["hyper", "run", "--app"]
    assert command[4:] == ["--host", "0.0.0.0", "--port", "8000", "--prod"]
    module_name, _, attribute = command[3].partition(":")
    workdir = Path(runtime.last("WORKDIR"))
    # The module file is copied from the repository into the working directory.
    sources = {}
    for value in runtime.all("COPY"):
        words = shlex.split(value)
        if words[0].startswith("--from"):
            continue
        destination = Path(words[-1])
        destination = destination if destination.is_absolute() else workdir / destination
        sources[destination] = ROOT / words[0]
    source = sources[workdir / f"{module_name}.py"]
    assert source.is_file()
    spec = importlib.util.spec_from_file_location(f"docker_{module_name}", source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert isinstance(getattr(module, attribute), HyperApp)


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def is_ignored(path: str, patterns: list[str]) -> bool:
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        candidates = [pattern, pattern.replace("**/", "")]
        if any(
            fnmatch.fnmatch(path, candidate) or fnmatch.fnmatch(Path(path).name, candidate)
            for candidate in candidates
        ):
            ignored = not negate
    return ignored


def test_dockerignore_keeps_build_outputs_and_secrets_out() -> None:
    patterns = dockerignore_patterns()
    for path in (
        ".git",
        ".venv",
        "target",
        "tests",
        "python/hyperdjango/_native.so",
        ".hyper.8000.pid",
        ".hyper.8000.log",
    ):
        assert is_ignored(path, patterns), path
    for path in ("src", "python", "Cargo.toml", "examples/hello.py", "README.md"):
        assert not is_ignored(path, patterns), path
