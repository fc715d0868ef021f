"""Killing a running job at a known point: once its progress bar (tqdm on stderr) shows N done."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time


def sigkill_at_progress(proc: subprocess.Popen, at: int, *, bar: str = "", timeout: float = 60) -> list[int]:
    """SIGKILL ``proc`` once the progress bar whose line starts with ``bar`` (any bar when empty)
    shows ``at`` items done; returns the counts seen. Fails the test if the job ends first."""
    seen: list[int] = []
    pattern = re.compile(rf"{re.escape(bar)}[^\r\n]*?(\d+)/\d+ \[" if bar else r"(\d+)/\d+ \[")

    def watch() -> None:
        buffer = ""
        while chunk := proc.stderr.read(64):
            buffer = (buffer + chunk)[-400:]
            counts = pattern.findall(buffer)
            if counts:
                seen.append(int(counts[-1]))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None and not (seen and seen[-1] >= at):
        time.sleep(0.01)
    assert proc.poll() is None, f"the job ended before it could be killed (progress seen: {seen[-3:]})"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    watcher.join(timeout=5)
    return seen
