"""Group leader for an engine process tree: nothing it starts outlives the caller.

    python -m playbook.serving.reaper ENGINE_ARGV...

The launcher starts this in a new session with ``PR_SET_PDEATHSIG``; it starts the
engine in its own process group and waits. When the caller dies (even by SIGKILL,
which runs no cleanup) the kernel sends this process SIGTERM, and it takes the *whole*
group down: the engine and every worker the engine forked (vLLM's engine core, say),
which a signal to the engine alone would leave behind. Exits with the engine's code.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

GRACE_S = 10.0


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
    parent = os.getppid()
    while child.poll() is None:
        if os.getppid() != parent:  # reparented: the caller is gone even if no signal came
            _stop_group(child)
        time.sleep(0.5)
    return child.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
