#!/usr/bin/env bash
# The main job on the bundled example: install, train the tutorial NequIP model on EMT copper,
# evaluate it on its test file, compile it with AOT Inductor, then run 2 ps of NVE molecular
# dynamics with the compiled model through the ASE calculator.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
./install.sh
run_dir=${RUN_DIR:-results/tutorial}

$PYTHON -m nequip.scripts.train configs/tutorial.yaml run_dir="$run_dir" "$@"
$PYTHON -m nequip.scripts.evaluate "$run_dir/checkpoints/best.ckpt" examples/data/cu_emt_test.xyz --plot "$run_dir/parity.png"
$PYTHON -m nequip.scripts.compile "$run_dir/checkpoints/best.ckpt" "$run_dir/tutorial.nequip.pt2" --target ase
$PYTHON examples/ase_md.py "$run_dir/tutorial.nequip.pt2" --steps 1000
