#!/usr/bin/env bash
# Creates (or refreshes) the project's virtual environment in .venv and installs jerkmon
# into it.  Sourced by run.sh and test.sh; safe to run again.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${PYTHON:-}"
if [ -z "$py" ]; then
  for cand in python3.13 python3.12 python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      py="$cand"; break
    fi
  done
fi
[ -n "$py" ] || { echo "jerkmon needs Python >= 3.11" >&2; exit 1; }
if [ ! -x "$root/.venv/bin/python" ]; then
  if ! "$py" -m venv "$root/.venv" 2>/dev/null; then
    # Debian ships venv separately.
    apt-get install -y -q "python3-venv" >/dev/null 2>&1 || true
    "$py" -m venv "$root/.venv"
  fi
fi
stamp="$root/.venv/.jerkmon-installed"
extras="${JERKMON_EXTRAS:-}"
if [ ! -f "$stamp" ] || [ "$root/pyproject.toml" -nt "$stamp" ] || ! grep -qx "extras=$extras" "$stamp"; then
  "$root/.venv/bin/python" -m pip install -q --upgrade pip >/dev/null
  "$root/.venv/bin/python" -m pip install -q -e "$root${extras:+[$extras]}"
  echo "extras=$extras" > "$stamp"
fi
