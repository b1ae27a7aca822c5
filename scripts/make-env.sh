#!/usr/bin/env bash
# Writes .env for docker-compose.yml with random passwords and an InfluxDB token.
# Refuses to overwrite an existing .env (the InfluxDB volume was initialised with it);
# use --force to replace it (then also `docker compose down -v` to re-initialise).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
env_file="$root/.env"
if [ -e "$env_file" ] && [ "${1:-}" != "--force" ]; then
  echo "$env_file exists; keep it, or run: $0 --force (and docker compose down -v)" >&2
  exit 1
fi
rand() {  # $1 random bytes, URL-safe base64 without padding
  head -c "$1" /dev/urandom | base64 | tr -d '\n=' | tr '+/' '-_'
}
umask 077
tmp="$(mktemp "$root/.env.XXXXXX")"
sed \
  -e "s|^INFLUXDB_ADMIN_PASSWORD=.*|INFLUXDB_ADMIN_PASSWORD=$(rand 24)|" \
  -e "s|^INFLUXDB_TOKEN=.*|INFLUXDB_TOKEN=$(rand 48)|" \
  -e "s|^GRAFANA_ADMIN_PASSWORD=.*|GRAFANA_ADMIN_PASSWORD=$(rand 18)|" \
  "$root/.env.example" >"$tmp"
mv "$tmp" "$env_file"
chmod 600 "$env_file"
# Secrets go to .env only (never to the terminal, where logs and scrollback keep them).
echo "wrote $env_file (mode 600); Grafana login: admin, password: GRAFANA_ADMIN_PASSWORD in $env_file"
