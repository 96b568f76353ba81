"""benchmarks/gpu/client_phases.py: each round of the fidelity check split, from the SGLang server's log, into the
client's start, its setup and its admissions (the 70 s a round of SGLang's client on 2026-12-05)."""

import gzip

import pytest

from tests.support.scripts import load_gpu_script

phases = load_gpu_script("client_phases")

LOG = """[2026-12-05 16:21:26] INFO:     127.0.0.1:1 - "POST /flush_cache HTTP/1.1" 200 OK
[2026-12-05 16:21:26] INFO:     127.0.0.1:2 - "GET /v1/models HTTP/1.1" 200 OK
[2026-12-05 16:21:27] Prefill batch, #new-seq: 1, #new-token: 285, #cached-token: 0
[2026-12-05 16:21:27] INFO:     127.0.0.1:3 - "POST /v1/chat/completions HTTP/1.1" 200 OK
[2026-12-05 16:21:38] INFO:     127.0.0.1:3 - "POST /v1/chat/completions HTTP/1.1" 200 OK
  a traceback line without a stamp
[2026-12-05 16:21:39] INFO:     127.0.0.1:4 - "POST /flush_cache HTTP/1.1" 200 OK
[2026-12-05 16:22:01] INFO:     127.0.0.1:5 - "GET /v1/models HTTP/1.1" 200 OK
[2026-12-05 16:22:48] Prefill batch, #new-seq: 1, #new-token: 253, #cached-token: 0
[2026-12-05 16:22:49] INFO:     127.0.0.1:6 - "POST /v1/chat/completions HTTP/1.1" 200 OK
[2026-12-05 16:23:00] INFO:     127.0.0.1:6 - "GET /v1/models HTTP/1.1" 200 OK
[2026-12-05 16:23:00] INFO:     127.0.0.1:6 - "POST /v1/chat/completions HTTP/1.1" 200 OK
[2026-12-05 16:23:03] INFO:     127.0.0.1:7 - "POST /flush_cache HTTP/1.1" 200 OK
[2026-12-05 16:23:05] INFO:     127.0.0.1:8 - "POST /v1/chat/completions HTTP/1.1" 200 OK
[2026-12-05 16:23:09] INFO:     127.0.0.1:9 - "POST /flush_cache HTTP/1.1" 200 OK
[2026-12-05 16:23:09] Prefill batch, #new-seq: 1, #new-token: 253, #cached-token: 0
"""


def test_each_round_splits_into_start_setup_and_requests_and_a_round_that_sent_nothing_is_left_out():
    rounds = phases.phases_of(LOG.splitlines())
    # the first prefill marks the first arrival (the server logs a request when its answer starts); a second ready check
    # does not move it; a round with no ready check starts at its flush; a round with no answer is left out
    assert [(r.seconds(), r.requests) for r in rounds] == [((0, 1, 11), 2), ((22, 47, 12), 2), ((0, 2, 0), 1)]


def test_the_table_labels_rounds_ours_and_sglangs_in_turn(tmp_path, capsys):
    log = tmp_path / "server.log.gz"
    with gzip.open(log, "wt") as sink:
        sink.write(LOG)
    phases.print_phases(log)
    rows = capsys.readouterr().out.splitlines()[2:]
    assert rows == [
        "| 1 | ours | 0 | 1 | 2 | 11 |",
        "| 1 | SGLang's | 22 | 47 | 2 | 12 |",
        "| 2 | ours | 0 | 2 | 1 | 0 |",
    ]


def test_a_log_without_a_round_is_refused_in_one_line(tmp_path):
    (tmp_path / "server.log").write_text("[2026-12-05 16:21:26] INFO: the server started\n")
    with pytest.raises(SystemExit, match=r"server.log: no round"):
        phases.print_phases(tmp_path / "server.log")
