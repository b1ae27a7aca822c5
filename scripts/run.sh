#!/usr/bin/env bash
# The main job on the embedded default: one simulated 8 h night through the detector and the
# local store (no server needed); prints the night summary and writes a report.
# Extra arguments go to `jerkmon run`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/bootstrap.sh"
exec "$root/.venv/bin/jerkmon" run --sim --hours 8 --seed 7 --speed max --subject demo \
  --data-dir "$root/jerkmon-data" "$@"
