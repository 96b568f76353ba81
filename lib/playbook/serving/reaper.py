"""Group leader for an engine process tree: nothing it starts outlives the caller.

    python -m playbook.serving.reaper ENGINE_ARGV...

The launcher starts this in a new session with ``PR_SET_PDEATHSIG``; it starts the
engine in its own process group and waits. When the caller dies (even by SIGKILL,
which runs no cleanup) the kernel sends this process SIGTERM, and it takes the *whole*
group down: the engine and every worker the engine forked (vLLM's engine core, say),
which a signal to the engine alone would leave behind. Exits with the engine's code.

A pooled server (``serving.pool``) must outlive the kernel that started it, so it has no death signal and
``PLAYBOOK_REAPER_DETACHED`` set; ``PLAYBOOK_REAPER_WATCH_PID`` then names the runner, and the group goes down
when the runner does (a runner killed outright counts as gone once its parent, the shell, has reaped it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

GRACE_S = 10.0
DETACHED_VARIABLE = "PLAYBOOK_REAPER_DETACHED"  # set: do not stop when the parent (the kernel) goes
WATCH_VARIABLE = "PLAYBOOK_REAPER_WATCH_PID"  # the pid whose end stops the group (the runner of a pooled server)


def _stop_group(child: subprocess.Popen) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the group signal below reaches us too
    os.killpg(0, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    while time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.1)
    os.killpg(0, signal.SIGKILL)  # stragglers, then ourselves


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m playbook.serving.reaper COMMAND [ARGS...]", file=sys.stderr)
        return 2
    child = subprocess.Popen(argv)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: _stop_group(child))
    parent = None if os.environ.get(DETACHED_VARIABLE) else os.getppid()
    watched = int(os.environ.get(WATCH_VARIABLE) or 0)
    while child.poll() is None:
        if parent is not None and os.getppid() != parent:  # reparented: the caller is gone even if no signal came
            _stop_group(child)
        if watched and not _alive(watched):  # the runner of a pooled server is gone
            _stop_group(child)
        time.sleep(0.5)
    return child.returncode


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
