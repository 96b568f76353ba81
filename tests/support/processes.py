"""Whether a process is still there, for the tests that check nothing an engine started is left behind."""

from __future__ import annotations

from pathlib import Path


def running(pid: int) -> bool:
    """Alive and not a zombie (a container's init may reap an orphan late)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
    except FileNotFoundError:
        return False
    return not any(line.startswith("State:") and "\tZ" in line for line in status)
