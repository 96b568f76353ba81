# Sourced by the device scripts: unpack each staged stack (chunks of ../shared/gpu/stage copied to
# /root/parts/<stack>) into /tmp/<stack>, once per machine.
for stack in "$@"; do
  if [ -d "/root/parts/$stack" ] && [ ! -f "/tmp/$stack/.unpacked" ]; then
    mkdir -p "/tmp/$stack"
    # marked only when every stage of the pipe succeeded: a stack missing a piece is unpacked again next call
    # (once, a corrupt stream marked done kept a truncated GGUF for the rest of the lease)
    if (set -o pipefail; cat /root/parts/$stack/part.* | xz -d -T0 | tar -xf - -C "/tmp/$stack"); then
      touch "/tmp/$stack/.unpacked"
    else
      echo "unpack_stacks: $stack did not unpack (a missing or mixed piece?): not marked" >&2
    fi
  fi
done
