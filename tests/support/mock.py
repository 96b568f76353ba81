"""The OpenAI-compatible mock server (``playbook.serving.mockserver``) in a subprocess, for unit tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import time


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_mock(*extra: str):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "playbook.serving.mockserver", "--port", str(port),
                             "--tokens-per-s", "200", "--ttft-ms", "30", *extra])  # fmt: skip
    deadline = time.monotonic() + 300  # an upper bound for a stuck start, not a speed: the port opening ends the wait
    while proc.poll() is None and time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"http://127.0.0.1:{port}"
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"the mock server never listened on port {port} (exit code {proc.wait()})")
