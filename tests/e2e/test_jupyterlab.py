"""The learner's way in: ``make lab``'s pinned JupyterLab starts headless, serves ``/lab``, opens Day 1 through
its contents API and runs the notebook's parameters cell and first code cell on the playbook's ``.venv`` kernel
through its kernel API, as a browser tab would. ``make test`` sets the lab venv up (``make lab-setup``)."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import time
import uuid

import aiohttp
import pytest

from playbook.core.profiles import REPO_ROOT
from tests.support.mock import free_port

pytestmark = pytest.mark.slow
LAB = REPO_ROOT / ".venvs" / "lab" / "bin" / "jupyter"


@pytest.fixture
def lab_server(tmp_path):
    if not LAB.exists():
        pytest.skip(".venvs/lab is not set up: make lab-setup (make test does it)")
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg")}
    proc = subprocess.Popen([str(LAB), "lab", "--no-browser", "--ip", "127.0.0.1", "--port", str(port),
                             f"--IdentityProvider.token={token}", "--ServerApp.root_dir", str(REPO_ROOT / "notebooks"),
                             "--allow-root"],  # CI runs as root; JupyterLab refuses root without it
                            env=env, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "lab.log", "w"),  # noqa: SIM115
                            start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 300  # a cap for a stuck start; the port opening ends the wait
    while proc.poll() is None and time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.2)
    try:
        assert proc.poll() is None, (tmp_path / "lab.log").read_text()[-2000:]
        yield f"http://127.0.0.1:{port}", token
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def execute_request(code: str, session: str) -> dict:
    """A Jupyter messaging protocol 5.3 ``execute_request`` on the shell channel (what JupyterLab sends)."""
    header = {"msg_id": uuid.uuid4().hex, "username": "test", "session": session, "msg_type": "execute_request",
              "version": "5.3", "date": ""}  # fmt: skip
    content = {"code": code, "silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": False,
               "stop_on_error": True}  # fmt: skip
    return {"header": header, "parent_header": {}, "metadata": {}, "content": content, "channel": "shell"}


async def run_cells(base: str, token: str, cells: list[str]) -> list[tuple[str, str]]:
    """Start a kernel through the REST API, run ``cells`` over its websocket in order; (status, stdout) each."""
    auth = {"Authorization": f"token {token}"}
    async with aiohttp.ClientSession(headers=auth) as http:
        async with http.post(f"{base}/api/kernels", json={"name": "python3"}) as made:
            assert made.status == 201, await made.text()
            kernel = (await made.json())["id"]
        session, done = uuid.uuid4().hex, []
        try:
            async with http.ws_connect(f"{base}/api/kernels/{kernel}/channels?session_id={session}") as ws:
                for code in cells:
                    request = execute_request(code, session)
                    await ws.send_str(json.dumps(request))
                    stdout, status = "", None
                    while status is None:
                        message = json.loads((await ws.receive(timeout=600)).data)
                        if message.get("parent_header", {}).get("msg_id") != request["header"]["msg_id"]:
                            continue
                        if message["msg_type"] == "stream":
                            stdout += message["content"].get("text", "")
                        elif message["msg_type"] == "error":
                            stdout += "\n".join(message["content"].get("traceback", []))
                        elif message["msg_type"] == "execute_reply":
                            status = message["content"]["status"]
                    done.append((status, stdout))
                    if status != "ok":
                        break
        finally:
            await http.delete(f"{base}/api/kernels/{kernel}")
    return done


def test_jupyterlab_serves_lab_and_runs_day1s_first_cells_on_the_venv_kernel(lab_server, tmp_path):
    import httpx

    base, token = lab_server
    auth = {"Authorization": f"token {token}"}
    assert httpx.get(f"{base}/lab", headers=auth, timeout=60).status_code == 200
    opened = httpx.get(f"{base}/api/contents/day1_serve_validate.ipynb", headers=auth, timeout=60)
    assert opened.status_code == 200
    code = [c for c in opened.json()["content"]["cells"] if c["cell_type"] == "code"]
    assert "parameters" in code[0]["metadata"].get("tags", [])
    kernelspecs = httpx.get(f"{base}/api/kernelspecs", headers=auth, timeout=60).json()["kernelspecs"]
    assert str(REPO_ROOT / ".venv") in kernelspecs["python3"]["spec"]["argv"][0]  # the playbook's own interpreter
    cells = [code[0]["source"], f"output_dir = {str(tmp_path / 'day01')!r}", code[1]["source"],
             "import sys; print(P.name, sys.prefix)"]  # fmt: skip
    results = asyncio.run(run_cells(base, token, cells))
    assert [status for status, _ in results] == ["ok"] * 4, results[-1][1][-3000:]
    assert results[-1][1].split() == ["cpu-smollm2", str(REPO_ROOT / ".venv")]
    assert json.loads((tmp_path / "day01" / "metrics.json").read_text())["day"] == 1  # start_day wrote its record
