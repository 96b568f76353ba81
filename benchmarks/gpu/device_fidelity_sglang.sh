#!/usr/bin/env bash
# On the lent GPU, after staging (vllm, sglang, nb chunks in /root/parts): the load generator beside
# sglang.bench_serving on one SGLang server.
#   WAIT_S=540 bash benchmarks/gpu/device_fidelity_sglang.sh [--rounds 3] [--levels 256,1000,64,1]
# Four levels in three rounds (~10 minutes after a ~3 minute start) outlast one call, so, as device_call.sh does for
# the days, the check runs in its own session and this waits at most WAIT_S seconds, then copies what the finished
# levels wrote (fidelity.jsonl grows a line a level) to $OUT. The same command sent again within the machine's
# ~30 s warm window starts nothing and goes on waiting: the server keeps its start, and nothing measured waits on a
# machine that may be gone by the next call.
set -uo pipefail
: "${OUT:?the device tool sets OUT}"
wait_s=${WAIT_S:-540}
work=/root/fidelity-out
for stack in nb; do
  for chunk in .gpu-stage/$stack/c*; do [ -d "$chunk" ] && mkdir -p "/root/parts/$stack" && cp -n "$chunk"/* "/root/parts/$stack/"; done
done
if [ ! -f /root/fidelity.started ]; then
  source "$(dirname "$0")/unpack_stacks.sh" vllm sglang nb
  rm -rf "$work" /root/fidelity.done /root/fidelity-repo && mkdir -p "$work" /root/fidelity-repo
  # the runner's own copy of the tree (a later call re-sends the tree under this one), without staged pieces
  tar -cf - --exclude=./.venv --exclude=./.venvs --exclude=./.gpu-stage --exclude=./outputs . \
    | tar -xf - -C /root/fidelity-repo && touch /root/fidelity.started
  mkdir -p /root/playbook-cache && cp -rn .gpu-stage/cache/. /root/playbook-cache/
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$work/gpu.csv" 2>&1
  (cd /root/fidelity-repo && setsid nohup bash -c '
    export PLAYBOOK_CACHE=/root/playbook-cache PYTHONUNBUFFERED=1 TQDM_DISABLE=1
    export PYTHONPATH=$PWD/lib:$PWD/benchmarks:/tmp/nb:/tmp/vllm
    py=$(command -v python3)
    python3 benchmarks/gpu/fidelity_sglang.py --out "$0" --gpu-check "$@" \
      --set "engines.sglang.python=$py" --set "engines.sglang.env.PYTHONPATH=$PWD/lib:/tmp/sglang:/tmp/nb" \
      --set "engines.sglang.extra_args=[--attention-backend, triton, --enable-metrics]" \
      --set "hardware.device_name=$(python3 -c "import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else \"cpu\")")" \
      > "$0/fidelity.log" 2>&1
    echo $? > /root/fidelity.done' "$work" "$@" < /dev/null > /dev/null 2>&1 &)
else
  echo "a fidelity check started by an earlier call is still going: waiting for it"
fi
waited=0
while [ ! -f /root/fidelity.done ] && [ "$waited" -lt "$wait_s" ]; do sleep 5; waited=$((waited + 5)); done
if [ -f /root/fidelity.done ]; then echo "fidelity check exit $(cat /root/fidelity.done) after ${waited} s"
else echo "fidelity check still running after ${waited} s: bringing back the finished levels"; fi
for f in fidelity.jsonl fidelity.log server.log gpu.csv gpu_check.json; do [ -f "$work/$f" ] && cp "$work/$f" "$OUT/"; done
[ -d "$work/records" ] && tar -czf "$OUT/records.tar.gz" -C "$work" records
grep -v "^\[" "$work/fidelity.log" | tail -40
