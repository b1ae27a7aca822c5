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
  log="$root/.venv/install.log"
  echo "installing jerkmon into .venv (log: .venv/install.log)" >&2
  if ! { "$root/.venv/bin/python" -m pip install --upgrade pip &&
         "$root/.venv/bin/python" -m pip install -e "$root${extras:+[$extras]}"; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "pip install failed; full log in $log" >&2
    exit 1
  fi
  echo "extras=$extras" > "$stamp"
fi
