#!/usr/bin/env bash
# On the lent GPU, after staging (vllm, sglang, nb chunks in /root/parts): the load generator beside
# sglang.bench_serving on one SGLang server. Results go straight to $OUT (a call that times out keeps them).
#   bash benchmarks/gpu/device_fidelity_sglang.sh [--rounds 2] [--levels 1,64,256,1000]
set -uo pipefail
: "${OUT:?the device tool sets OUT}"
for stack in nb; do
  for chunk in .gpu-stage/$stack/c*; do [ -d "$chunk" ] && mkdir -p "/root/parts/$stack" && cp -n "$chunk"/* "/root/parts/$stack/"; done
done
source "$(dirname "$0")/unpack_stacks.sh" vllm sglang nb
mkdir -p /root/playbook-cache && cp -rn .gpu-stage/cache/. /root/playbook-cache/
export PLAYBOOK_CACHE=/root/playbook-cache PYTHONUNBUFFERED=1 TQDM_DISABLE=1
export PYTHONPATH=$PWD/lib:$PWD/benchmarks:/tmp/nb:/tmp/vllm
py=$(command -v python3)
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$OUT/gpu.csv" 2>&1
python3 benchmarks/gpu/fidelity_sglang.py --out "$OUT" "$@" \
  --set "engines.sglang.python=$py" --set "engines.sglang.env.PYTHONPATH=$PWD/lib:/tmp/sglang:/tmp/nb" \
  --set 'engines.sglang.extra_args=[--attention-backend, triton, --enable-metrics]' \
  --set "hardware.device_name=$(python3 -c 'import torch; print(torch.cuda.get_device_name(0))')" \
  2>&1 | tee "$OUT/fidelity.log" | grep -v "^\[" | tail -40
