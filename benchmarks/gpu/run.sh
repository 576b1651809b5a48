#!/usr/bin/env bash
# One prepared GPU run (issue 19): see benchmarks/gpu/README.md. Arguments go to benchmarks/gpu/run.py.
# Results go to $OUT (default ./gpu-out); the whole log is kept there as run.log.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-gpu-out}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PYTHON="${PYTHON:-python3}"
# Wheels carried in .whl/ (diffusers is not installed on the GPU machine, which has no internet).
if compgen -G ".whl/*.whl" >/dev/null && ! "$PYTHON" -c "import diffusers" 2>/dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/vb-site .whl/*.whl \
        && export PYTHONPATH="$PYTHONPATH:/tmp/vb-site"
fi
"$PYTHON" benchmarks/gpu/run.py --out "$OUT" "$@" 2>&1 | tee "$OUT/run.log"
exit "${PIPESTATUS[0]}"
