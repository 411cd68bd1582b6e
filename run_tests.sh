#!/usr/bin/env bash
# Installs the stack with its test tools and runs the whole test suite (slow end-to-end tests included).
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
./install.sh test
# Inductor's caches can grow to hundreds of MB: keep them out of /tmp/torchinductor_$USER.
export TORCHINDUCTOR_CACHE_DIR=${TORCHINDUCTOR_CACHE_DIR:-$(mktemp -d)}
exec $PYTHON -m pytest -q -ra --durations=25 "$@"
