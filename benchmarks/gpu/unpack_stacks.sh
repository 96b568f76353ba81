# Sourced by the device scripts: unpack each staged stack (chunks of ../shared/gpu/stage copied to
# /root/parts/<stack>) into /tmp/<stack>, once per machine.
for stack in "$@"; do
  if [ -d "/root/parts/$stack" ] && [ ! -f "/tmp/$stack/.unpacked" ]; then
    mkdir -p "/tmp/$stack"
    cat /root/parts/$stack/part.* | xz -d -T0 | tar -xf - -C "/tmp/$stack"
    touch "/tmp/$stack/.unpacked"
  fi
done
