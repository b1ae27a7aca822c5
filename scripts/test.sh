#!/usr/bin/env bash
# The whole test run on a fresh Debian machine: virtual environment, Python dependencies,
# Debian's InfluxDB server (the tests start their own influxd), lint, types, tests.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if ! command -v influxd >/dev/null 2>&1; then
  echo "installing Debian's influxdb (tests run a real influxd on loopback)"
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q influxdb >/dev/null
fi
JERKMON_EXTRAS=dev "$root/scripts/bootstrap.sh"
"$root/.venv/bin/ruff" check .
"$root/.venv/bin/ruff" format --check .
"$root/.venv/bin/mypy"
exec "$root/.venv/bin/python" -m pytest "$@"
