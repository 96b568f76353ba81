#!/usr/bin/env bash
# On the lent GPU after P (device_prepare.sh): can the engine serve Day 4's W4A16 checkpoints? One start on each
# (benchmarks/gpu/probe_w4a16.py); probe.json and the server logs come back in $OUT.
#   bash benchmarks/gpu/device_probe_w4a16.sh PROFILE [--set k=v ...]
set -uo pipefail
: "${OUT:?the device tool sets OUT}"
[ -f /root/p-ok ] || { echo "no /root/p-ok: P did not finish"; exit 1; }
profile=$1; shift
export PLAYBOOK_CACHE=/root/playbook-cache PYTHONUNBUFFERED=1 PYTHONPATH=$PWD/lib:/tmp/nb
py=$(command -v python3)
python3 benchmarks/gpu/probe_w4a16.py "$profile" --out "$OUT" "$@" \
  --set "engines.sglang.python=$py" --set "engines.sglang.env.PYTHONPATH=$PWD/lib:/tmp/sglang:/tmp/nb" \
  --set "engines.vllm.python=$py" --set "engines.vllm.env.PYTHONPATH=$PWD/lib:/tmp/vllm:/tmp/nb" \
  --set "hardware.device_name=$(python3 -c 'import torch; print(torch.cuda.get_device_name(0))')" 2>&1 | tail -60
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$OUT/gpu.csv" 2>&1
