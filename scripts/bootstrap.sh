#!/usr/bin/env bash
# Creates (or refreshes) the project's virtual environment in .venv and installs jerkmon
# into it.  Run by run.sh and test.sh; safe to run again; silent unless it installs or fails.
# JERKMON_EXTRAS (e.g. "dev") names the extras wanted; an installation with more extras than
# asked for is kept (run.sh after test.sh does not reinstall).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${PYTHON:-}"
if [ -z "$py" ]; then
  for cand in python3.13 python3.12 python3.11 python3; do
    # pyenv shims exist for versions that are not selected and complain on stderr: silence.
    if command -v "$cand" >/dev/null 2>&1 &&
       "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then
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
# The detector's kernels are compiled at install (Cython): a C compiler and Python's headers.
if ! command -v cc >/dev/null 2>&1 ||
   ! "$py" -c 'import os, sysconfig, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
  echo "installing a C compiler and Python headers (gcc, python3-dev)" >&2
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q gcc python3-dev >/dev/null
fi
stamp="$root/.venv/.jerkmon-installed"
extras="${JERKMON_EXTRAS:-}"
# Installed extras (the stamp's "extras=a,b" line) must cover the requested ones.
covered=1
if [ ! -f "$stamp" ] || [ "$root/pyproject.toml" -nt "$stamp" ]; then
  covered=0
else
  have=",$(sed -n 's/^extras=//p' "$stamp"),"
  IFS=',' read -ra want <<<"$extras"
  for e in "${want[@]}"; do
    [ -z "$e" ] || [[ "$have" == *",$e,"* ]] || covered=0
  done
fi
# The compiled kernels: rebuilt when a .pyx is newer than the installation or not built.
for pyx in "$root"/detector/_features.pyx "$root"/collector/_csvparse.pyx; do
  so=("${pyx%.pyx}".*.so)
  if [ "$pyx" -nt "$stamp" ] || [ ! -e "${so[0]}" ]; then covered=0; fi
done
if [ "$covered" -eq 0 ]; then
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
