#!/usr/bin/env bash
# Two engines side by side on the lent GPU, alternating rounds (python -m playbook.run.compare), spanning device
# calls: the first call starts the job in its own session (setsid), so it outlives the call; every call (the
# first too) then waits at most WAIT_S and copies what exists to $OUT: compare.json is rewritten after every
# level, so each call brings back every level finished so far, and the last one the records too. Call again
# within the machine's ~30 s warm window to go on waiting.
#   PLAYBOOK_SOURCE_COMMIT=<sha> bash benchmarks/gpu/device_compare.sh WAIT_S PROFILE [compare args ...]
# Before it, stage vllm, sglang and nb (chunks in /root/parts/<stack>), and carry .gpu-stage/cache.
set -uo pipefail
wait_s=$1; profile=$2; shift 2
: "${OUT:?the device tool sets OUT}"
job=/root/compare
if [ ! -f "$job/started" ]; then
  source "$(dirname "$0")/unpack_stacks.sh" vllm sglang nb
  mkdir -p /root/playbook-cache "$job/out" && cp -rn .gpu-stage/cache/. /root/playbook-cache/
  # The job runs from its own copy: a later call re-sends the working tree under it.
  rm -rf /root/pb && mkdir -p /root/pb && cp -r lib params /root/pb/
  py=$(command -v python3)
  gpu_name=$(python3 -c "import torch; print(torch.cuda.get_device_name(0))")
  gpu_gib=$(python3 -c "import torch; print(round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1))")
  export PLAYBOOK_CACHE=/root/playbook-cache PYTHONUNBUFFERED=1 TQDM_MININTERVAL=30
  export PYTHONPATH=/root/pb/lib:/tmp/nb:/tmp/vllm
  touch "$job/started"
  args=(--profile "$profile" --out "$job/out"
    --set "engines.vllm.python=$py" --set "engines.vllm.env.PYTHONPATH=/root/pb/lib:/tmp/vllm:/tmp/nb"
    --set "engines.sglang.python=$py" --set "engines.sglang.env.PYTHONPATH=/root/pb/lib:/tmp/sglang:/tmp/nb"
    --set "hardware.device_name=$gpu_name" --set "hardware.memory_gib=$gpu_gib" "$@")
  setsid nohup bash -c 'python3 -m playbook.run.compare "$@"; echo $? > /root/compare/done' _ "${args[@]}" \
    > "$job/out/compare.log" 2>&1 < /dev/null &
  for stack in vllm sglang; do
    PYTHONPATH=/tmp/$stack python3 -c "import importlib.metadata as m; print('$stack', m.version('$stack'))" \
      >> "$job/out/versions.txt" 2>&1
  done
  echo "source commit ${PLAYBOOK_SOURCE_COMMIT:-unknown}" >> "$job/out/versions.txt"
fi
waited=0
while [ ! -f "$job/done" ] && [ "$waited" -lt "$wait_s" ]; do sleep 5; waited=$((waited + 5)); done
cp "$job/out"/*.json "$job/out"/*.txt "$job/out"/*.log "$OUT"/ 2>/dev/null
if [ -f "$job/done" ]; then
  echo "compare exit $(cat "$job/done") after ${waited} s more"
  tar -czf "$OUT/records.tar.gz" -C "$job/out" records 2>/dev/null
else
  echo "compare still running after ${waited} s more: call again within 30 s to go on waiting"
fi
tail -25 "$job/out/compare.log"
