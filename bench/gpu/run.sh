#!/usr/bin/env bash
# Run the GPU bench from an unpacked bundle (see pack.sh); arguments go to run.mjs
# (--models lenet,alexnet  --batch-scale 0.25  --steps 20  --python /usr/bin/python3).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec "$here/node" "$here/run.mjs" "$@"
