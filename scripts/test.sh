#!/usr/bin/env bash
# Runs every test logweir has, installing what they need first (on Debian-based machines).
#
#   ./scripts/test.sh
#
# Idempotent: installed tools are detected and not installed twice.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v logger >/dev/null 2>&1 || need_apt+=(bsdutils)
command -v rsyslogd >/dev/null 2>&1 || need_apt+=(rsyslog)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

cargo test --workspace --exclude logweir-benches --locked
# Every pipeline shipped in pipelines/ must validate and pass its [[tests]].
for p in pipelines/*.toml; do
  cargo run --quiet --locked -- validate -c "$p"
  cargo run --quiet --locked -- --log-level error test -c "$p"
done
