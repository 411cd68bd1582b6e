#!/usr/bin/env bash
# The main job on the bundled example: install, train the tutorial NequIP model on EMT copper,
# evaluate it on its test split, then run a short NVE molecular dynamics with the ASE calculator.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
./install.sh
run_dir=${RUN_DIR:-results/tutorial}

$PYTHON -m nequip.scripts.train configs/tutorial.yaml run_dir="$run_dir" "$@"
$PYTHON -m nequip.scripts.evaluate "$run_dir/checkpoints/best.ckpt" examples/data/cu_emt_test.xyz --plot "$run_dir/parity.png"
$PYTHON examples/ase_md.py "$run_dir/checkpoints/best.ckpt" --steps 200
