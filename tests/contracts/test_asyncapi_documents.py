"""The AsyncAPI documents in deploy/asyncapi/ describe the code as it is."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_committed_asyncapi_documents_are_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "asyncapi.py"), "--check"],
        capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
