#!/usr/bin/env bash
# The main job on the embedded default: one simulated 8 h night through the detector and the
# local store (no server needed); prints the night summary and writes a report.
# The night starts at 22:30 the evening before (unless --start is given), so running this
# again the same day re-runs the same night: its stored data is replaced, never added to.
# Data goes to the default data directory ($JERKMON_DATA_DIR or ~/.local/share/jerkmon), where
# `jerkmon report` and `jerkmon export` look by default.  Extra arguments go to `jerkmon run`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/bootstrap.sh"
start=(--start "$(date -d 'yesterday 22:30' +%Y-%m-%dT%H:%M)")
for arg in "$@"; do
  case "$arg" in --start | --start=*) start=() ;; esac
done
exec "$root/.venv/bin/jerkmon" run --sim --hours 8 --seed 7 --speed max --subject demo \
  --replace "${start[@]}" "$@"
