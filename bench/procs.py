"""Running a command as a child process and measuring its wall time and peak memory."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"


def run_measured(args: list[str], env: dict | None = None) -> tuple[str, float, float]:
    """Run ``python args...`` from the repo root; return (stdout, wall seconds, peak RSS in MB)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(process.pid, 0)  # reap it ourselves to get *its* rusage
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if process.returncode:
            raise RuntimeError(f"{' '.join(args)} failed:\n{err.read().decode()[-2000:]}")
        return out.read().decode(), wall, usage.ru_maxrss / 1024  # Linux reports KB


def english_text(megabytes: float) -> str:
    """About ``megabytes`` MB of English: tiny Shakespeare and WikiText-2, repeated as needed."""
    parts = [(DATA / name).read_text(encoding="utf-8") for name in ("tinyshakespeare.txt", "wikitext-2.valid.txt", "wikitext-2.test.txt")]
    text, target = "", int(megabytes * 2**20)
    while len(text.encode("utf-8")) < target:
        text += "".join(parts)
    return text.encode("utf-8")[:target].decode("utf-8", errors="ignore")
