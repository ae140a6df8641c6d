#!/usr/bin/env bash
# The accelerator check: one prepared command for a machine with one GPU (issue 30);
# ends within 8 minutes and writes benchmarks/results/accelerator/accelerator_check.json
# (or OUT_DIR/accelerator_check.json). See check.py for what it runs and records.
#
#   benchmarks/accelerator/check.sh [OUT_DIR]
#
# It uses the python3 on PATH (or $PYTHON), which must hold JAX for the accelerator
# (jax[cuda]). A machine without network access gets jaxrl's other dependencies as
# wheels in .whl/ at the repository root (downloaded where pip works, for that
# machine's Python; see the device tool's README): they go to /tmp/site first.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
if compgen -G ".whl/*.whl" > /dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export MUJOCO_GL=${MUJOCO_GL:-egl} PYTHONUNBUFFERED=1
"$PY" -c "import jax; print('jax', jax.__version__, jax.devices())"
exec "$PY" benchmarks/accelerator/check.py --out "${1:-benchmarks/results/accelerator}"
