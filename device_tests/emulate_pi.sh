#!/usr/bin/env bash
# Run device_tests inside an emulated Raspberry Pi OS 64-bit userland under qemu user-mode
# emulation, with the real PyPI aarch64 wheels. Both current Raspberry Pi OS bases:
#   PI_BASE=bookworm (Debian 12, Python 3.11, the default)   PI_BASE=trixie (Debian 13, Python 3.13)
#
#   [PI_BASE=trixie] bash device_tests/emulate_pi.sh [BUNDLE_DIR]   (root; Debian host; ~10 min cold)
#
# Downloads are cached in $EDGEHAR_PI_CACHE (default: .cache/pi). Needs debootstrap and the
# Debian package registry; no chroot or binfmt: qemu-aarch64 -L runs the arm64 python directly.
set -euo pipefail
cd "$(dirname "$0")/.."
BUNDLE=${1:-edgehar/assets/pretrained}
BASE=${PI_BASE:-bookworm}
case $BASE in
  bookworm) PY=3.11 ;;
  trixie)   PY=3.13 ;;
  *) echo "PI_BASE must be bookworm or trixie, not $BASE" >&2; exit 2 ;;
esac
ABI=cp${PY/./}
# The Pi's own CPU: Cortex-A76 (Pi 5; PI_CPU=cortex-a72 for a Pi 4). Not qemu's default "max"
# CPU: with SVE2/SME advertised, numpy 2.5's OpenBLAS (trixie's cp313 wheel) picks kernels that
# compute wrong matrix products under emulation (sample replay agreed on 17-59 % of windows,
# varying run to run); with the Pi's CPU model every check passes.
CPU=${PI_CPU:-cortex-a76}
CACHE=${EDGEHAR_PI_CACHE:-$PWD/.cache/pi}
ROOT=$CACHE/rootfs-$BASE
SITE=$CACHE/site-$BASE
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

# 2. userland: a minimal arm64 Debian of that base with its python, unpacked without running
#    maintainer scripts (foreign stage only, then every .deb extracted into the root).
if [ ! -x "$ROOT/usr/bin/python$PY" ]; then
  command -v debootstrap >/dev/null || { apt-get update -qq; apt-get install -y -qq debootstrap; }
  rm -rf "$ROOT"
  debootstrap --foreign --arch=arm64 --variant=minbase \
    --include=python$PY-minimal,libpython$PY-stdlib "$BASE" "$ROOT" http://deb.debian.org/debian
  for deb in "$ROOT"/var/cache/apt/archives/*.deb; do dpkg-deb -x "$deb" "$ROOT"; done
fi

# 3. wheels: the real aarch64 builds from PyPI plus the pure-Python packages pytest needs.
if [ ! -f "$SITE/.complete" ]; then
  mkdir -p "$CACHE/wheels-$BASE" "$SITE"
  python3 -m pip download -q --only-binary=:all: --no-deps --python-version "$PY" \
    --implementation cp --abi "$ABI" --abi abi3 --abi none \
    --platform manylinux_2_27_aarch64 --platform manylinux_2_28_aarch64 \
    --platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64 --platform any \
    -d "$CACHE/wheels-$BASE" numpy ai-edge-litert onnxruntime ml_dtypes protobuf flatbuffers \
    backports.strenum tqdm typing-extensions packaging pytest pluggy iniconfig pygments
  for w in "$CACHE"/wheels-"$BASE"/*.whl; do python3 -m zipfile -e "$w" "$SITE"; done
  touch "$SITE/.complete"
fi
echo "setup: $(( $(date +%s) - t0 )) s"

# 4. run: the arm64 python under qemu, edgehar from this checkout, wheels on PYTHONPATH.
t1=$(date +%s)
EDGEHAR_QEMU_USER=1 PYTHONPATH="$SITE:$PWD" PYTHONDONTWRITEBYTECODE=1 "$QEMU" -cpu "$CPU" -L "$ROOT" "$ROOT/usr/bin/python$PY" \
  -c "import platform,sys; print('emulated', platform.machine(), sys.version.split()[0], '$CPU')"
EDGEHAR_QEMU_USER=1 PYTHONPATH="$SITE:$PWD" PYTHONDONTWRITEBYTECODE=1 "$QEMU" -cpu "$CPU" -L "$ROOT" "$ROOT/usr/bin/python$PY" \
  -m pytest device_tests -q -p no:cacheprovider --bundle "$BUNDLE" "${@:2}"
echo "device_tests under emulation ($BASE, Python $PY, $CPU): $(( $(date +%s) - t1 )) s"
