#!/usr/bin/env bash
# The benches' headline numbers on this machine, as one table (bench/device_check.py):
#   PYTHONPATH=src bash bench/device-check.sh [--quick] [CSV]
# A CUDA GPU runs the full sizes in under 8 minutes; --quick, DEVICE=cpu or a machine without
# CUDA runs tiny sizes. Needs no install and no network: src/ and bench/ go on PYTHONPATH here.
set -euo pipefail
bench="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export PYTHONPATH="$bench/../src:$bench${PYTHONPATH:+:$PYTHONPATH}"
python="${PYTHON:-$(command -v python3 || command -v python)}"
exec "$python" "$bench/device_check.py" "$@"  # DEVICE= picks the device there
