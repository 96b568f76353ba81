#!/usr/bin/env bash
# Runs on the lent GPU machine (the `device` tool), from the repo root, after the chunks of
# ../shared/gpu/stage were copied to /root/parts/<stack> (vllm, sglang, nb). Unpacks each
# stack once per machine, then runs the playbook's own runner on a GPU profile: the same
# notebooks as on the CPU, only the profile changes. Bundles the run folder into OUT_DIR.
#   bash benchmarks/gpu/device_days.sh OUT_DIR PROFILE DAYS [--set key=value ...]
set -euo pipefail
out=$1; profile=$2; days=$3; shift 3
source "$(dirname "$0")/unpack_stacks.sh" vllm sglang nb smol quant
# Outside the repo copy: later device calls re-send the working tree while this may still run.
results=/root/gpu-outputs
mkdir -p /root/playbook-cache && cp -rn .gpu-stage/cache/. /root/playbook-cache/
# smol: the SmolLM2 package and the Day 6 adapters; quant: Day 4's quantized checkpoints. Both are packed
# from the development machine's cache, whose keys are content hashes, so the runner finds them here.
for cached in smol quant; do
  if [ -d "/tmp/$cached" ]; then cp -rn "/tmp/$cached/." /root/playbook-cache/; fi
done
# The profile names an H100; the lent card may be an H200: the pre-flight uses what torch sees.
gpu_name=$(python3 -c "import torch; print(torch.cuda.get_device_name(0))")
gpu_gib=$(python3 -c "import torch; print(round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1))")
export PLAYBOOK_CACHE=/root/playbook-cache PYTHONUNBUFFERED=1 TQDM_MININTERVAL=30
templates=$(ls -d /tmp/nb/nbconvert-*.data/data/share/jupyter 2>/dev/null | head -1 || true)
export JUPYTER_PATH=${templates}
# The notebook kernel sees the playbook, the notebook stack and vLLM's stack (openai, pydantic);
# each engine server gets its own stack first on its path.
export PYTHONPATH=$PWD/lib:/tmp/nb:/tmp/vllm
py=$(command -v python3)
sglang_sets=()  # only for a profile that configures SGLang (a new engines.sglang entry would lack an image)
if grep -q "^  sglang:" "params/$profile.yaml" 2>/dev/null; then
  sglang_sets=(--set "engines.sglang.python=$py" --set "engines.sglang.env.PYTHONPATH=$PWD/lib:/tmp/sglang:/tmp/nb")
fi
mkdir -p "$out"
set +e
python3 -m playbook run --profile "$profile" --days "$days" --outputs "$results" \
  --set "engines.vllm.python=$py" --set "engines.vllm.env.PYTHONPATH=$PWD/lib:/tmp/vllm:/tmp/nb" \
  "${sglang_sets[@]}" \
  --set "hardware.device_name=$gpu_name" --set "hardware.memory_gib=$gpu_gib" \
  "$@" 2>&1 | tee "$out/runner.log"
status=${PIPESTATUS[0]}
set -e
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$out/gpu.csv" || true
for stack in vllm sglang; do  # each engine's version, read from its own stack
  PYTHONPATH=/tmp/$stack python3 -c "import importlib.metadata as m, torch; print('$stack', m.version('$stack'), 'torch', torch.__version__)" >> "$out/gpu.csv" || true
done
run=$(ls -d "$results"/*/run-* | tail -1)
tar -czf "$out/run.tar.gz" -C "$(dirname "$run")" "$(basename "$run")"
cp "$run/manifest.json" "$out/manifest.json"
exit "$status"
