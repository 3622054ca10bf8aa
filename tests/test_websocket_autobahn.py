"""A quick strict subset of the Autobahn|Testsuite against tests/apps/websockets_app.py.

The full suite (cases 1-13, ~15 minutes) is `make autobahn`. This subset covers framing,
pings, reserved bits and opcodes, fragmentation, UTF-8 (fail fast included), the close
handshake, and permessage-deflate, in a few seconds once the suite is installed.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
SUBSET = (
    '["1.1.1", "1.2.8", "2.*", "3.*", "4.*", "5.*", "6.1.*", "6.4.*", "6.20.*", '
    '"7.1.*", "7.5.1", "7.9.*", "12.1.1", "12.2.1", "13.1.1", "13.3.1", "13.5.1", "13.7.1"]'
)


def _python2() -> str | None:
    candidates = sorted(glob.glob("/root/.pyenv/versions/2.7*/bin/python"))
    candidates += [path for path in (shutil.which("python2.7"), shutil.which("python2")) if path]
    for candidate in candidates:
        result = subprocess.run(
            [candidate, "-c", "import sys; assert sys.version_info[0] == 2"], capture_output=True
        )
        if result.returncode == 0:
            return candidate
    return None


PY2 = _python2()


@pytest.mark.skipif(
    PY2 is None, reason="Autobahn|Testsuite is Python 2 software and no python2.7 is installed"
)
@pytest.mark.timeout(900)
def test_autobahn_quick_subset_is_strictly_clean(tmp_path: Path) -> None:
    environment = {
        **os.environ,
        "CASES": SUBSET,
        "EXCLUDE": "[]",
        "PY2": str(PY2),
        "PYTHON": sys.executable,
    }
    result = subprocess.run(
        ["bash", str(ROOT / "tools" / "run_autobahn.sh"), str(tmp_path)],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        timeout=880,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "failing: []" in result.stdout
