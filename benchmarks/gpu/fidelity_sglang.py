"""Fidelity against SGLang's client: does the playbook's load generator measure a server as ``sglang.bench_serving``
does?

One server (the profile's engine, launched by the playbook: SGLang on the lent GPU), the same prompts and output
length for both clients, through the same endpoint (/v1/chat/completions, ignore_eos). At each concurrency the
playbook's client and ``python -m sglang.bench_serving`` run alternately, ROUNDS times each; the table gives the
medians of the rounds and the ratio ours / SGLang's (target 0.95-1.05, as against vLLM's client). Both report
whole-run numbers here (the same definitions: median TTFT, median TPOT, output tokens / wall time), not Day 7's
steady window.

Every round of either client sends the same prompts, so every round starts from a cold prefix cache
(``playbook.load.cache.cold_round``): SGLang's radix cache is emptied (``POST /flush_cache``); an engine that
takes a cache salt instead (vLLM) gets a salt no earlier round used, in both clients' requests. The hit rate each
round met is read from the engine's counters and kept. No prompt is pre-sent. The first round of 2026-11-30
pre-sent every prompt once, so both clients met fully cached prompts; it was 23-31 % apart at c=256 with no record
to say why. Now every round's per-request records of both clients are kept (``records/``, gzip: ours as
``requests.jsonl``, SGLang's from ``--output-details`` without the generated texts), so a gap can be traced to the
requests that make it.

On the lent GPU through device_fidelity_sglang.sh. On a CPU machine, against vLLM, the same script checks the
tooling before a lease spends device minutes on it (SGLang's client from its wheel, unpacked; it needs no GPU)::

    .venv/bin/python benchmarks/gpu/fidelity_sglang.py --profile cpu-smollm2 --engine vllm \
        --client-python .venv/bin/python --client-path /tmp/sgl/src --levels 1,8 --rounds 3 --out outputs/fid

After every round the level's line, with the rounds so far, is appended to OUT/fidelity.jsonl (``"complete"``
false until its last round), so a call that runs out of time still brings back every round it finished, hit rates
included; ``--render`` reads the last line of each level. A check written before that (2026-12-05, sixth lease) kept
a cut level only in its records: ``--records DIR`` rebuilds the rounds from them, without the hit rates.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import re
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from _common import median, print_table

from playbook.core.profiles import load_profile
from playbook.load.cache import cold_round, measured_use, read_counters, with_fields
from playbook.load.datasets import SampleRequest, build_requests
from playbook.load.loadgen import LoadConfig, read_records, run_load
from playbook.load.metrics import LatencySummary, summarize
from playbook.serving.endpoint import Endpoint
from playbook.serving.launcher import launch
from playbook.sizing.models import prepare_model


@dataclass(frozen=True)
class Client:
    """Where ``sglang.bench_serving`` runs: its interpreter and environment (the SGLang stack's, or an unpacked
    wheel on PYTHONPATH), and the tokenizer folder it counts with."""

    python: str
    env: dict[str, str]
    tokenizer: str


@dataclass(frozen=True)
class Round:
    """One client's round: how its cache was made cold, the hit rate it met, its three numbers, and the seconds the
    round took from the caller's side, setup included (SGLang's client took about 70 s a round beyond its requests
    on the H100 of 2026-12-05; None in files written before this was kept)."""

    client: str
    cache: str
    hit_rate: float | None
    ttft_p50_ms: float
    tpot_p50_ms: float
    output_tok_s: float
    round_s: float | None = None


def our_round(summary: LatencySummary, cache: str, hit_rate: float | None, round_s: float | None = None) -> Round:
    """Our client's round from its summary: the live check and the rebuild from records read the same fields."""
    return Round("ours", cache, hit_rate, summary.ttft.p50_ms, summary.tpot.p50_ms, summary.output_throughput_tok_s,
                 round_s)  # fmt: skip


def sglang_round(result: dict, cache: str, hit_rate: float | None, round_s: float | None = None) -> Round:
    """SGLang's client's round from its result, for the live check and the rebuild from records alike."""
    return Round("sglang.bench_serving", cache, hit_rate, result["median_ttft_ms"], result["median_tpot_ms"],
                 result["output_throughput"], round_s)  # fmt: skip


def sglang_args(endpoint: Endpoint, tokenizer: str, prompts: Path, n: int, concurrency: int, output_tokens: int,
                fields: dict[str, str], out: Path) -> list[str]:  # fmt: skip
    """``sglang.bench_serving``'s argv for the prompts file: chat completions, ``n`` prompts at ``concurrency``,
    no warm-up, ``fields`` in every request body (a cache salt), per-request details into ``out``."""
    args = ["--backend", "sglang-oai-chat", "--base-url", endpoint.base_url, "--model", endpoint.model,
            "--tokenizer", tokenizer, "--dataset-name", "custom", "--dataset-path", str(prompts),
            "--sharegpt-output-len", str(output_tokens), "--num-prompts", str(n),
            "--max-concurrency", str(concurrency), "--warmup-requests", "0", "--output-file", str(out),
            "--output-details", "--disable-tqdm", "--seed", "0"]  # fmt: skip
    return [*args, "--extra-request-body", json.dumps(fields)] if fields else args


def sglang_bench(client: Client, endpoint: Endpoint, prompts: Path, n: int, concurrency: int, output_tokens: int,
                 fields: dict[str, str], records: Path) -> dict:  # fmt: skip
    """One ``sglang.bench_serving`` run over the prompts file; its JSONL result line (per-request details, less
    the generated texts, go gzipped to ``records``, its printed output beside them as ``.log``). No model hub is
    reachable where it runs, so it is told so (``HF_HUB_OFFLINE``) rather than left to wait on a lookup."""
    env = {**client.env, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
           **({"OPENAI_API_KEY": endpoint.api_key} if endpoint.api_key else {})}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.jsonl"
        argv = sglang_args(endpoint, client.tokenizer, prompts, n, concurrency, output_tokens, fields, out)
        returncode, printed = run_timed([client.python, "-m", "sglang.bench_serving", *argv], env)
        records.with_name(records.name.replace(".json.gz", ".log")).write_text(printed[-40000:])
        if returncode != 0 or not out.exists():
            raise RuntimeError(f"sglang.bench_serving failed:\n{printed[-4000:]}")
        result = json.loads(out.read_text().strip().splitlines()[-1])
        with gzip.open(records, "wt") as sink:
            sink.write(json.dumps(slim_sglang(result)) + "\n")
        if result.get("completed") != n:
            raise RuntimeError(f"sglang.bench_serving completed {result.get('completed')} of {n} requests")
        return result


def run_timed(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run ``argv``; its output (stdout and stderr) with each line stamped with the seconds since the start, so a
    round's log shows where a client's own setup time goes."""
    began, lines = time.monotonic(), []
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) as process:
        for line in process.stdout:
            lines.append(f"[{time.monotonic() - began:7.1f} s] {line}")
    return process.returncode, "".join(lines)


def write_prompts(samples: list[SampleRequest], path: Path) -> Path:
    """The samples' last user messages as SGLang's ``custom`` dataset (a two-turn conversation a line; the
    answer's text is unused, its length is ``--sharegpt-output-len``)."""
    rows = ({"conversations": [{"content": s.messages[-1]["content"]}, {"content": ""}]} for s in samples)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def slim_ours(record: dict) -> dict:
    """One of our request records as kept: without the generated text (noise from dummy weights, most of the
    bytes) and with its inter-token latencies to the microsecond."""
    return {**{k: v for k, v in record.items() if k != "output_text"},
            "itl_ms": [round(x, 3) for x in record.get("itl_ms") or []]}  # fmt: skip


def slim_sglang(result: dict) -> dict:
    """``sglang.bench_serving``'s result as kept: without the generated texts and the server's arguments (the
    server log has them once), its inter-token latencies (seconds) to the microsecond."""
    kept = {k: v for k, v in result.items() if k not in ("generated_texts", "server_info")}
    return {**kept, "itls": [[round(x, 6) for x in request] for request in result.get("itls") or []]}


def keep_ours(run_dir: Path, records: Path) -> None:
    with (run_dir / "requests.jsonl").open() as source, gzip.open(records, "wt") as sink:
        for line in source:
            if line.strip():
                sink.write(json.dumps(slim_ours(json.loads(line))) + "\n")


def medians(rounds: list[Round]) -> list[float]:
    return [median([getattr(r, name) for r in rounds]) for name in ("ttft_p50_ms", "tpot_p50_ms", "output_tok_s")]


def level_line(engine: str, concurrency: int, requests: int, args, rounds: list[Round], complete: bool) -> dict:
    """A level's ``fidelity.jsonl`` line: its lengths, whether all its rounds ran, and the rounds so far."""
    return {"engine": engine, "concurrency": concurrency, "requests": requests, "input_tokens": args.input_tokens,
            "output_tokens": args.output_tokens, "complete": complete,
            "rounds": [asdict(r) for r in rounds]}  # fmt: skip


def append_line(out: Path, line: dict) -> None:
    with (out / "fidelity.jsonl").open("a") as sink:
        sink.write(json.dumps(line) + "\n")


def measure_level(engine: str, endpoint: Endpoint, client: Client, samples: list[SampleRequest], concurrency: int,
                  args, tmp: Path) -> tuple[list[Round], list[Round]]:  # fmt: skip
    """The two clients in turn, ``args.rounds`` times, each round from a cold cache; every round's per-request
    records kept under ``args.out/records``, and the level's line appended after each round (a call cut mid-level
    keeps the rounds it finished)."""
    n = len(samples)
    prompts = write_prompts(samples, tmp / f"prompts-{concurrency}.jsonl")
    config = LoadConfig(concurrency=concurrency, scrape_interval_s=None)
    records = args.out / "records"
    records.mkdir(parents=True, exist_ok=True)
    ours, theirs = [], []
    for r in range(1, args.rounds + 1):
        cold, before = cold_round(endpoint, engine, f"ours-c{concurrency}-r{r}"), read_counters(endpoint)
        run_dir = tmp / f"ours-{concurrency}-{r}"
        salted = with_fields(samples, cold.request_fields)
        began = time.monotonic()
        s = run_load(endpoint, config, salted, run_dir, desc=f"ours c={concurrency}").summary
        took = time.monotonic() - began
        keep_ours(run_dir, records / f"ours-c{concurrency:04d}-r{r}.jsonl.gz")
        hits = measured_use(endpoint, before, None, False).hit_rate
        ours.append(our_round(s, cold.how, hits, took))
        cold, before = cold_round(endpoint, engine, f"sglang-c{concurrency}-r{r}"), read_counters(endpoint)
        began = time.monotonic()
        b = sglang_bench(client, endpoint, prompts, n, concurrency, args.output_tokens, cold.request_fields,
                         records / f"sglang-c{concurrency:04d}-r{r}.json.gz")  # fmt: skip
        hits = measured_use(endpoint, before, None, False).hit_rate
        theirs.append(sglang_round(b, cold.how, hits, time.monotonic() - began))
        append_line(args.out, level_line(engine, concurrency, n, args, ours + theirs, r == args.rounds))
    return ours, theirs


def write_gpu_check(out: Path) -> dict:
    """The card's identity and self-test (matrix products, copy bandwidth, clocks) into ``out/gpu_check.json``
    before the server starts, as the runner's manifest keeps it: a check on a card that fails it does not count.
    A self-test that cannot run is kept as its error, and the check goes on (its records are still worth having)."""
    from playbook.sizing.gpu_check import check_gpu

    try:
        found = check_gpu()
    except Exception as error:  # any failure of the self-test is recorded, not fatal
        found = {"error": f"{type(error).__name__}: {error}"}
    (out / "gpu_check.json").write_text(json.dumps(found, indent=1) + "\n")
    return found


def bench_client(args, profile, tokenizer: str) -> Client:
    """SGLang's client: ``--client-python`` (with ``--client-path`` on its PYTHONPATH) or the SGLang engine's own."""
    spec = profile.engines.get("sglang")
    python = args.client_python or (spec.python if spec else None)
    if not python:
        raise SystemExit("--client-python: the profile has no SGLang engine whose Python could run its client")
    env = {**os.environ, **(spec.env if spec and not args.client_python else {})}
    if args.client_path:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(args.client_path), env.get("PYTHONPATH")]))
    return Client(python, env, tokenizer)


HEADERS = ["c", "requests", "rounds ours/SGLang", "ours TTFT p50 ms", "ours TPOT p50 ms", "ours tok/s",
           "SGLang TTFT p50 ms", "SGLang TPOT p50 ms", "SGLang tok/s", "TTFT ratio", "TPOT ratio", "tok/s ratio",
           "ours max hit rate", "SGLang max hit rate"]  # fmt: skip


def level_row(line: dict) -> list:
    """One ``fidelity.jsonl`` line as a table row: each client's medians over its rounds, the ratios ours / SGLang's,
    the highest hit rate either client met (a cold round meets only the chat template's shared prefix), NaN where
    none was read (rounds rebuilt from records)."""
    rounds = [Round(**r) for r in line["rounds"]]
    ours = [r for r in rounds if r.client == "ours"]
    theirs = [r for r in rounds if r.client != "ours"]
    mine, sglang = medians(ours), medians(theirs)
    ratios = [a / b if b else float("nan") for a, b in zip(mine, sglang, strict=True)]
    hits = [max((r.hit_rate for r in side if r.hit_rate is not None), default=math.nan) for side in (ours, theirs)]
    return [line["concurrency"], line["requests"], f"{len(ours)}/{len(theirs)}", *mine, *sglang, *ratios, *hits]


def print_fidelity(lines: list[dict]) -> None:
    """The table of the levels in ``lines`` (``fidelity.jsonl``'s), with the rounds and lengths they carry."""
    first = lines[0] if lines else {}
    rounds = max((sum(r["client"] == "ours" for r in line["rounds"]) for line in lines), default=0)
    print(
        f"\nFidelity against sglang.bench_serving on {first.get('engine', '?')}, {rounds} rounds a level (medians), "
        f"{first.get('input_tokens', '?')} in / {first.get('output_tokens', '?')} out, each round from a cold cache"
    )
    print_table(HEADERS, [level_row(line) for line in lines])


def latest_lines(lines: list[dict]) -> list[dict]:
    """The last line of each level, in the order the levels ran (a level's line is appended after every round)."""
    latest: dict[int, dict] = {}
    for line in lines:
        latest[line["concurrency"]] = line
    return list(latest.values())


def render(path: Path) -> None:
    """The table of a finished or partial check from its ``fidelity.jsonl`` alone (a call that ran out of time
    prints no table; every round it finished is in the file)."""
    lines = [json.loads(text) for text in path.read_text().splitlines() if text.strip()]
    if any("rounds" not in line for line in lines):
        raise SystemExit(f"--render {path}: written before per-round records (2026-12-05); its README has its table")
    print_fidelity(latest_lines(lines))


RECORD_NAME = re.compile(r"(ours|sglang)-c(\d+)-r(\d+)\.jsonl?\.gz$")


def round_from_records(path: Path) -> tuple[int, int, int, Round]:
    """(concurrency, round, requests, Round) of one kept record file, with the numbers each client reports:
    ours through the load generator's own ``summarize``, SGLang's from its result. The hit rate was never in the
    records: None."""
    client, concurrency, number = RECORD_NAME.search(path.name).groups()
    if client == "ours":
        records = read_records(path)
        return int(concurrency), int(number), len(records), our_round(summarize(records), "records", None)
    with gzip.open(path, "rt") as source:
        result = json.loads(source.read())
    return int(concurrency), int(number), result["completed"], sglang_round(result, "records", None)


def lines_from_records(folder: Path, args) -> list[dict]:
    """Each level's line rebuilt from the per-round records in ``folder`` (for a level cut before the check wrote
    its line): the rounds in the order they ran, ours before SGLang's in each."""
    found = sorted((round_from_records(p) for p in folder.iterdir() if RECORD_NAME.search(p.name)),
                   key=lambda item: (item[0], item[1], item[3].client != "ours"))  # fmt: skip
    if not found:
        raise SystemExit(f"--records {folder}: no ours-cNNNN-rN.jsonl.gz or sglang-cNNNN-rN.json.gz in it")
    levels: dict[int, list] = {}
    for concurrency, _, requests, found_round in found:
        levels.setdefault(concurrency, [requests, []])[1].append(found_round)
    return [level_line("sglang", c, requests, args, rounds, False) for c, (requests, rounds) in levels.items()]


def wave_windows(records: list, concurrency: int) -> tuple[list[tuple[float, float]], float]:
    """When each wave of a closed loop went out, in seconds from the round's first send: the sends sorted and cut
    into blocks of ``concurrency`` (the first block is the opening burst, each later one the requests that the
    previous wave's ends released), each block's first and last send; and the round's last end. Requests of one
    output length keep such a loop in waves, and how the waves drift from round to round moves its numbers
    (c = 256 on 2026-12-05). SGLang's client keeps no send times, so only our rounds can be read this way."""
    first = min(r.start_unix_s for r in records)
    sends = sorted(r.start_unix_s - first for r in records)
    blocks = [sends[i : i + concurrency] for i in range(0, len(sends), concurrency)]
    end = max(r.start_unix_s - first + r.e2e_ms / 1000 for r in records if r.e2e_ms is not None)
    return [(block[0], block[-1]) for block in blocks], end


def print_waves(folder: Path) -> None:
    """Each of our kept rounds above c = 1 as its waves (``--records DIR --waves``; at c = 1 a wave is a request)."""
    found = sorted((int(m.group(2)), int(m.group(3)), p) for p in folder.iterdir()
                   if (m := RECORD_NAME.search(p.name)) and m.group(1) == "ours" and int(m.group(2)) > 1)  # fmt: skip
    if not found:
        raise SystemExit(f"--records {folder} --waves: no ours-cNNNN-rN.jsonl.gz in it")
    for concurrency, number, path in found:
        windows, end = wave_windows(read_records(path), concurrency)
        sent = ", ".join(f"{a:.2f}-{b:.2f}" for a, b in windows)
        print(f"c={concurrency} round {number}: waves sent at {sent} s; last end {end:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="h100-qwen2.5-7b-dummy")
    parser.add_argument("--engine", default="sglang", help="the server measured (vllm: the CPU tooling check)")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--levels", default="256,1000,64,1", help="the most telling first: a call may run out")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--input-tokens", type=int, default=256)
    parser.add_argument("--output-tokens", type=int, default=128)
    parser.add_argument("--client-python", default=None, help="the Python that runs sglang.bench_serving")
    parser.add_argument("--client-path", type=Path, default=None, help="put on that Python's PYTHONPATH")
    parser.add_argument("--out", type=Path, default=Path("fidelity-out"))
    parser.add_argument("--gpu-check", action="store_true", help="self-test the GPU first (gpu_check.json)")
    parser.add_argument("--render", type=Path, default=None, metavar="FIDELITY_JSONL",
                        help="print the table of an earlier check's fidelity.jsonl and stop (no server)")  # fmt: skip
    parser.add_argument("--records", type=Path, default=None, metavar="DIR",
                        help="print the table rebuilt from a check's records/ (no hit rates) and stop")  # fmt: skip
    parser.add_argument("--waves", action="store_true",
                        help="with --records: when each wave of our rounds went out, and when each ended")  # fmt: skip
    args = parser.parse_args()
    if args.waves:
        return print_waves(args.records) if args.records else parser.error("--waves reads --records DIR")
    if args.render:
        return render(args.render)
    if args.records:
        return print_fidelity(lines_from_records(args.records, args))

    profile = load_profile(args.profile, [f"engine={args.engine}", *args.overrides])
    model = prepare_model(profile.model)
    client = bench_client(args, profile, str(model.local_dir))
    levels = [int(c) for c in args.levels.split(",")]
    n_for = {c: (16 if c == 1 else c if c >= 1000 else 4 * c) for c in levels}
    samples = build_requests("synthetic", max(n_for.values()), 0, model.local_dir, input_tokens=args.input_tokens,
                             output_tokens=args.output_tokens)  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    if args.gpu_check:
        found = write_gpu_check(args.out)
        print(f"GPU self-test: {' '.join(found.get('verdict') or [found.get('error', 'nothing to compare with')])}")
    lines = []
    with tempfile.TemporaryDirectory() as tmp, launch(profile, model.model_arg, args.out / "server.log") as server:
        for c in levels:
            ours, theirs = measure_level(profile.engine, server.endpoint, client, samples[: n_for[c]], c, args,
                                         Path(tmp))  # fmt: skip
            lines.append(level_line(profile.engine, c, n_for[c], args, ours + theirs, True))
            print(f"c={c}: ours {medians(ours)}, sglang {medians(theirs)}", flush=True)
    print_fidelity(lines)


if __name__ == "__main__":
    main()
