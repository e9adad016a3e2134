#!/usr/bin/env bash
# Run device_tests inside an emulated Raspberry Pi OS 64-bit userland (Debian bookworm arm64,
# Python 3.11) under qemu user-mode emulation, with the real PyPI aarch64 wheels.
#
#   bash device_tests/emulate_pi.sh [BUNDLE_DIR]        (root; Debian/Ubuntu host; ~10 min cold)
#
# Downloads are cached in $EDGEHAR_PI_CACHE (default: .cache/pi). Needs debootstrap and the
# Debian package registry; no chroot or binfmt: qemu-aarch64 -L runs the arm64 python directly.
set -euo pipefail
cd "$(dirname "$0")/.."
BUNDLE=${1:-edgehar/assets/pretrained}
CACHE=${EDGEHAR_PI_CACHE:-$PWD/.cache/pi}
ROOT=$CACHE/rootfs
SITE=$CACHE/site
mkdir -p "$CACHE"
t0=$(date +%s)

# 1. qemu: bookworm's qemu-user-static (7.2) segfaults in LiteRT's and ORT's cpuinfo probing;
#    qemu 10 from bookworm-backports works, and its qemu-aarch64 is static.
if [ ! -x "$CACHE/qemu/usr/bin/qemu-aarch64" ]; then
  command -v debootstrap >/dev/null || { apt-get update -qq; apt-get install -y -qq debootstrap; }
  echo "deb http://deb.debian.org/debian bookworm-backports main" \
    > /etc/apt/sources.list.d/edgehar-backports.list
  apt-get update -qq
  (cd "$CACHE" && apt-get download -qq -t bookworm-backports qemu-user)
  dpkg-deb -x "$CACHE"/qemu-user_*.deb "$CACHE/qemu"
fi
QEMU=$CACHE/qemu/usr/bin/qemu-aarch64

# 2. userland: a minimal arm64 bookworm with python3.11, unpacked without running maintainer
#    scripts (foreign stage only, then every .deb extracted into the root).
if [ ! -x "$ROOT/usr/bin/python3.11" ]; then
  command -v debootstrap >/dev/null || { apt-get update -qq; apt-get install -y -qq debootstrap; }
  rm -rf "$ROOT"
  debootstrap --foreign --arch=arm64 --variant=minbase \
    --include=python3.11-minimal,libpython3.11-stdlib bookworm "$ROOT" http://deb.debian.org/debian
  for deb in "$ROOT"/var/cache/apt/archives/*.deb; do dpkg-deb -x "$deb" "$ROOT"; done
fi

# 3. wheels: the real aarch64 builds from PyPI plus the pure-Python packages pytest needs.
if [ ! -f "$SITE/.complete" ]; then
  mkdir -p "$CACHE/wheels" "$SITE"
  python3 -m pip download -q --only-binary=:all: --no-deps --python-version 3.11 \
    --implementation cp --abi cp311 --abi abi3 --abi none \
    --platform manylinux_2_27_aarch64 --platform manylinux_2_28_aarch64 \
    --platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64 --platform any \
    -d "$CACHE/wheels" numpy ai-edge-litert onnxruntime ml_dtypes protobuf flatbuffers \
    backports.strenum tqdm typing-extensions packaging pytest pluggy iniconfig pygments
  for w in "$CACHE"/wheels/*.whl; do python3 -m zipfile -e "$w" "$SITE"; done
  touch "$SITE/.complete"
fi
echo "setup: $(( $(date +%s) - t0 )) s"

# 4. run: the arm64 python under qemu, edgehar from this checkout, wheels on PYTHONPATH.
t1=$(date +%s)
PYTHONPATH="$SITE:$PWD" PYTHONDONTWRITEBYTECODE=1 "$QEMU" -L "$ROOT" "$ROOT/usr/bin/python3.11" \
  -c "import platform,sys; print('emulated', platform.machine(), sys.version.split()[0])"
PYTHONPATH="$SITE:$PWD" PYTHONDONTWRITEBYTECODE=1 "$QEMU" -L "$ROOT" "$ROOT/usr/bin/python3.11" \
  -m pytest device_tests -q -p no:cacheprovider --bundle "$BUNDLE" "${@:2}"
echo "device_tests under emulation: $(( $(date +%s) - t1 )) s"
