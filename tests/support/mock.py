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
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    return proc, f"http://127.0.0.1:{port}"
