#!/usr/bin/env bash
# Runs on the lent GPU machine (the `device` tool), from the repo root, after the engine
# chunks of ../shared/gpu/stage were copied to /root/parts/<engine>. Unpacks each engine
# stack once per machine, then measures the named variants of lib/playbook/run/multigpu.py.
#   bash benchmarks/gpu/device_multigpu.sh OUT_DIR [--parallel] VARIANT[,VARIANT...]
set -euo pipefail
out=$1; shift
source "$(dirname "$0")/unpack_stacks.sh" vllm sglang pkgs
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export PLAYBOOK_CACHE=$PWD/.gpu-stage/cache PYTHONUNBUFFERED=1 TQDM_MININTERVAL=30
export PLAYBOOK_VLLM_PYTHONPATH=/tmp/vllm:/tmp/pkgs PLAYBOOK_SGLANG_PYTHONPATH=/tmp/sglang:/tmp/pkgs
export PYTHONPATH=$PWD/lib:/tmp/vllm:/tmp/pkgs
args=()
if [ "${1:-}" = "--parallel" ]; then args+=(--parallel); shift; fi
python3 -m playbook.run.multigpu --out "$out" --variants "$1" "${args[@]}"
