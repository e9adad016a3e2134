#!/usr/bin/env bash
# The device promise: a fresh venv with only the runtime extra (numpy + ai-edge-litert) replays
# a HAPT log and passes device_tests against the shipped bundle; no torch/onnx is installed.
# Then the full suite runs there too: skips and passes only, no collection error.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .ci-rt && python3 -m venv .ci-rt
.ci-rt/bin/pip install --quiet ".[runtime]" pytest
if .ci-rt/bin/python -c "import torch" 2>/dev/null; then echo "torch leaked into the runtime install"; exit 1; fi
# `edgehar` there (no click): one line naming the extra to install, exit 2, no traceback
rc=0; msg=$(.ci-rt/bin/edgehar replay --help 2>&1) || rc=$?
if [ "$rc" -ne 2 ] || [ "$(printf '%s\n' "$msg" | wc -l)" -ne 1 ] || ! grep -q 'edgehar\[train\]' <<<"$msg"; then
  echo "edgehar without click: expected one line naming the extra and exit 2, got $rc: $msg"; exit 1
fi
work=$(mktemp -d)
# A HAPT raw pair (test subject 2) cut from the shipped sample CSV, in the official layout.
.ci-rt/bin/python - "$work" <<'PY'
import sys
import numpy as np
from edgehar.runtime.assets import SAMPLE_LOG
rows = np.genfromtxt(SAMPLE_LOG, delimiter=",", skip_header=1, usecols=range(1, 7))
np.savetxt(f"{sys.argv[1]}/acc_exp04_user02.txt", rows[:, :3], fmt="%.6f")
np.savetxt(f"{sys.argv[1]}/gyro_exp04_user02.txt", rows[:, 3:], fmt="%.6f")
PY
(cd "$work" && "$OLDPWD/.ci-rt/bin/python" -m edgehar.runtime replay acc_exp04_user02.txt \
   --summary summary.json --out pred.jsonl && cat summary.json)
.ci-rt/bin/python -m pytest device_tests -q -p no:cacheprovider
rm -rf "$work"
# The whole suite collects without torch/onnx/scipy/click/sklearn or the data package: what needs
# them skips with a reason, the rest (replay of the shipped sample, bad input, manifest) runs.
rc=0
.ci-rt/bin/python -m pytest tests device_tests -q -p no:cacheprovider || rc=$?
if [ "$rc" -ne 0 ]; then echo "runtime-only test suite: pytest exit code $rc"; exit 1; fi
