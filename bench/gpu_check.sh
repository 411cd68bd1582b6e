#!/usr/bin/env bash
# One GPU check, < 8 minutes on one H100/H200: a verdict on everything that runs on the device.
#
#   bench/gpu_check.sh [--out table.md]        # on a GPU machine, from anywhere in the checkout
#   bench/gpu_check.sh --device cpu            # smoke run of the same steps on the CPU (small sizes)
#
# Steps, each under its own timeout so one failure does not eat the budget:
#   1. build the operator library with its CUDA kernels (the LAMMPS plugin builds beside it)
#   2. the device-kernel tests (tests/ops/test_device_kernels.py: values of every slot, scatter and
#      deterministic kernels, against the CPU operators), then gradcheck / gradgradcheck on the GPU
#   3. timings: extension vs reference vs e3nn (cuEquivariance when importable) and the performance
#      model's bound (bench/tp_ops.py, bench/tp_model.py), atomics and deterministic
#   4. the tutorial trained a few epochs on the GPU, eager and compiled
#   5. a CUDA .pt2 of the trained model against the eager model
#   6. the LAMMPS plugin on the GPU, 1 and 2 MPI ranks, against the ASE calculator
# and writes one Markdown table (step, status, seconds, figure) to --out or stdout; step logs stay in
# the work folder it names. Without a GPU (and without --device cpu) it says so in one line, exit 0.
set -u
cd "$(dirname "$0")/.."
DEVICE=cuda
OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    *) echo "usage: bench/gpu_check.sh [--device cuda|cpu] [--out table.md]" >&2; exit 2 ;;
  esac
done
PY=${PYTHON:-python}
if [ "$DEVICE" = cuda ] && ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  echo "gpu_check: no CUDA GPU visible to torch here; nothing to check (bench/gpu_check.sh --device cpu runs a CPU smoke test)"
  exit 0
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export TORCHINDUCTOR_CACHE_DIR="$WORK/inductor"
if [ "$DEVICE" = cuda ]; then
  # build only for this GPU's architecture (minutes saved on a 15-minute lease)
  export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-$("$PY" -c "import torch; print('%d.%d' % torch.cuda.get_device_capability())")}"
  export MAX_JOBS="${MAX_JOBS:-$(nproc)}"
  SMOKE=0
  TEST_FILTER="cuda or gradcheck"   # test_extension.py: the [cuda] cases and the gradchecks
  BENCH="--atoms 4096 --neighbors 40 --repeats 10 --device cuda --e3nn --gpu H100"
  TRAIN="trainer.max_epochs=3 trainer.accelerator=gpu trainer.devices=1"
  CELLS=6
else
  SMOKE=1
  TEST_FILTER="gradgradcheck"
  BENCH="--configs tutorial.yaml --atoms 64 --neighbors 10 --repeats 1 --device cpu --gpu H100"
  TRAIN="trainer.max_epochs=1 trainer.limit_train_batches=2 trainer.limit_val_batches=1 trainer.accelerator=cpu"
  CELLS=2
fi
START=$(date +%s)
ROWS=()

# step NAME SECONDS COMMAND...: runs COMMAND under a timeout, its output in $WORK/<n>.log; the figure
# is the last line starting with "RESULT:" (else the last line of the log).
step() {
  local name="$1" limit="$2"; shift 2
  local log="$WORK/$(( ${#ROWS[@]} + 1 )).log" t0=$(date +%s) rc status figure
  echo "gpu_check: $name (<= ${limit} s) ..." >&2
  timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1
  rc=$?
  case $rc in
    0) status=ok ;;
    124|137) status="TIMEOUT (${limit} s)" ;;
    *) status="FAILED (exit $rc)" ;;
  esac
  figure=$(grep '^RESULT:' "$log" | tail -n 1 | sed 's/^RESULT: *//')
  [ -n "$figure" ] || figure=$(grep -v '^\s*$' "$log" | tail -n 1 | cut -c1-160)
  ROWS+=("| $name | $status | $(( $(date +%s) - t0 )) | ${figure//|/\\|} |")
  echo "gpu_check: $name: $status" >&2
  return $rc
}

# the LAMMPS plugin compiles on the CPU while the operators build
( "$PY" -m nequip.integrations.lammps build >"$WORK/plugin-build.log" 2>&1; echo $? >"$WORK/plugin-build.rc" ) &
PLUGIN_BUILD=$!

step "build operators ($DEVICE)" 420 bash -c "$PY -m nequip.ops build && $PY -c \"
import sys; sys.path.insert(0, 'tests/ops'); import emulation, time; t = time.time(); emulation.load()
print('RESULT: library and host emulation ready')\""

step "device kernels vs CPU operators (values)" 240 \
  "$PY" -m pytest -q -x -p no:cacheprovider tests/ops/test_device_kernels.py

step "gradcheck / gradgradcheck ($TEST_FILTER)" 240 \
  "$PY" -m pytest -q -x -p no:cacheprovider tests/ops/test_extension.py -k "$TEST_FILTER"

step "cuEquivariance available" 30 "$PY" -c "
try:
    import cuequivariance_torch
    print('RESULT: cuequivariance_torch', cuequivariance_torch.__version__, '(not timed yet)')
except ImportError:
    print('RESULT: not installed (optional; the lease has no network to pip-install it)')"

# shellcheck disable=SC2086
step "tp_ops timings (atomics)" 180 "$PY" bench/tp_ops.py $BENCH
cp "$WORK/${#ROWS[@]}.log" "$WORK/tp_ops_atomics.md"
# shellcheck disable=SC2086
step "tp_ops timings (deterministic)" 180 "$PY" bench/tp_ops.py $BENCH --deterministic
cp "$WORK/${#ROWS[@]}.log" "$WORK/tp_ops_deterministic.md"

# shellcheck disable=SC2086
train() {  # run_dir, extra overrides...
  local dir="$1"; shift
  "$PY" -m nequip.scripts.train configs/tutorial.yaml run_dir="$dir" resume=false $TRAIN "$@" || return $?
  "$PY" - "$dir" <<'EOF'
import csv, glob, math, sys
rows = [r for f in glob.glob(f"{sys.argv[1]}/**/metrics.csv", recursive=True) for r in csv.DictReader(open(f))]
val = [float(r["val/loss"]) for r in rows if r.get("val/loss")]
assert val and all(math.isfinite(v) for v in val), f"no finite validation loss in {sys.argv[1]}"
print(f"RESULT: val/loss {val[0]:.4g} -> {val[-1]:.4g} over {len(val)} validations")
EOF
}
export -f train  # timeout runs it in a child bash
export PY TRAIN
step "train tutorial, eager" 150 bash -c 'train "$@"' train "$WORK/train-eager"
step "train tutorial, compiled" 240 bash -c 'train "$@"' train "$WORK/train-compiled" compile_mode=compile

CKPT="$WORK/train-eager/checkpoints/best.ckpt"
step "CUDA .pt2 vs eager" 240 bash -c "
$PY -m nequip.scripts.compile '$CKPT' '$WORK/tutorial.nequip.pt2' --device $DEVICE --target ase &&
$PY - '$CKPT' '$WORK/tutorial.nequip.pt2' $DEVICE <<'EOF'
import sys
import numpy as np
from ase.io import read
from nequip.integrations.ase import NequIPCalculator
ckpt, pt2, device = sys.argv[1:]
atoms = read('examples/data/cu_emt_test.xyz', index=0)
results = []
for path in (ckpt, pt2):
    atoms.calc = NequIPCalculator.from_file(path, device=device)
    results.append((atoms.get_potential_energy(), atoms.get_forces()))
(e0, f0), (e1, f1) = results
rel = max(abs(e1 - e0) / abs(e0), np.abs(f1 - f0).max() / np.abs(f0).max())
print(f'RESULT: {len(atoms)} atoms, max relative difference {rel:.1e} (float32 bound 1e-5)')
sys.exit(0 if rel < 1e-5 else 1)
EOF"

wait "$PLUGIN_BUILD"
step "LAMMPS plugin ($DEVICE) vs ASE, 1 and 2 ranks" 240 bash -c "
[ \"\$(cat '$WORK/plugin-build.rc')\" = 0 ] || { tail -n 5 '$WORK/plugin-build.log'; exit 1; }
$PY -m nequip.scripts.compile '$CKPT' '$WORK/tutorial-lammps.nequip.pt2' --device $DEVICE --target lammps &&
$PY - '$CKPT' '$WORK/tutorial-lammps.nequip.pt2' $CELLS '$WORK/lammps' <<'EOF'
import os, sys
from pathlib import Path
import numpy as np
sys.path.insert(0, 'tests/lammps')
from ase import Atoms
from lammps_inputs import fcc_data, fcc_structure, model_pair, run_lmp
from nequip.integrations.ase import NequIPCalculator
from nequip.integrations.lammps import build
ckpt, pt2, cells, folder = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
pos, _, cell, _ = fcc_structure(cells=cells, a=3.615, noise=0.05)
atoms = Atoms('Cu%d' % len(pos), positions=pos, cell=cell, pbc=True)
atoms.calc = NequIPCalculator.from_file(ckpt)
energy, forces = atoms.get_potential_energy(), atoms.get_forces()
env = dict(os.environ, LAMMPS_PLUGIN_PATH=str(build().parent), OMP_NUM_THREADS='1')
data = fcc_data(folder / 's.data', cells=cells, a=3.615, noise=0.05)
head = f'units metal\nboundary p p p\natom_modify map array sort 0 0\nread_data {data}\n'
worst = 0.0
for ranks in (1, 2):
    thermo, per_atom, _ = run_lmp(head + model_pair('nequip', pt2, names=('Cu', 'Cu')), folder / str(ranks), env, nprocs=ranks)
    rel = max(abs(thermo['pe'] - energy) / abs(energy), np.abs(per_atom[:, 5:8] - forces).max() / np.abs(forces).max())
    print(f'{ranks} rank(s): energy {thermo[\"pe\"]:.6f} eV (ASE {energy:.6f}), relative difference {rel:.1e}')
    worst = max(worst, rel)
print(f'RESULT: {len(pos)} atoms, 1 and 2 ranks, max relative difference to ASE {worst:.1e} (float32 bound 1e-5)')
sys.exit(0 if worst < 1e-5 else 1)
EOF"

{
  echo "## GPU check ($DEVICE): $("$PY" -c "import torch; print(torch.cuda.get_device_name() if torch.cuda.is_available() else 'CPU smoke run')"), torch $("$PY" -c "import torch; print(torch.__version__)"), $(date -u +%Y-%m-%d), $(( $(date +%s) - START )) s"
  echo
  echo "| step | status | s | figure |"
  echo "|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "Kernel timings (atomics / deterministic):"
  echo
  grep '^|' "$WORK/tp_ops_atomics.md" 2>/dev/null
  echo
  grep '^|' "$WORK/tp_ops_deterministic.md" 2>/dev/null
  echo
  echo "Logs: $WORK"
} >"${OUT:-/dev/stdout}"
