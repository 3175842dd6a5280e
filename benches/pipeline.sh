#!/usr/bin/env bash
# Whole-pipeline throughput harness (issue #11): runs the reference loops and logweir over the
# same container-log file, back to back, and prints each figure with its ratio to the splice
# ceiling (the per-core parse-and-forward limit) measured in the same run.
#
#   benches/pipeline.sh [FILE]          # default: generates 1,000,000 CRI lines (seed 3)
#   LOGWEIR_THREADS=1 benches/pipeline.sh FILE   # one worker thread
#   LOGWEIR_BIN=/path/to/logweir benches/pipeline.sh FILE   # another build (before/after runs)
#   ROUNDS=5 benches/pipeline.sh FILE   # rounds (default 3)
#
# The two ceilings and logweir run in turn, ROUNDS times, and the ratios are taken between
# the medians: on a shared VM a neighbour's burst lands on one run, and alternating the three
# spreads the bursts over all of them instead of over whichever happened to run then.
#
# Pipeline: benches/pipelines/file_cri_parse_filter_es.toml (file -> parse_json -> filter ->
# Elasticsearch bulk encoding, no compression) into benches/src/bin/es_discard.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}/release"
cargo build --quiet --release -p logweir -p logweir-benches --bins
logweir="${LOGWEIR_BIN:-$target/logweir}"

work="$(mktemp -d /tmp/logweir-bench.XXXXXX)"
trap 'kill "${es_pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
data="${1:-}"
pod_dir="$work/pods/shop_cart-7d9f5c_0f9c2a44-1b2c-4d5e-8f90-123456789abc/cart"
mkdir -p "$pod_dir"
if [ -z "$data" ]; then
  data="$work/generated.log"
  "$target/gen_logs" --format cri --lines 1000000 --seed 3 > "$data"
fi
# The kubelet's path layout gives the file source the kubernetes.* fields.
ln -s "$(realpath "$data")" "$pod_dir/0.log"
bytes=$(stat -L -c %s "$data")
lines=$(wc -l < "$data")
cat "$data" > /dev/null   # warm the page cache

port=$((20000 + RANDOM % 20000))
"$target/es_discard" "127.0.0.1:$port" &
es_pid=$!

# run NAME COMMAND...: wall, CPU and peak RSS of one command.
run() {
  local name="$1"; shift
  local out="$work/time.txt"
  /usr/bin/time -f "%e %U %S %M" -o "$out" "$@" > /dev/null 2> "$work/stderr.txt" \
    || { echo "$name failed:"; tail -5 "$work/stderr.txt"; exit 1; }
  read -r wall user sys rss < "$out"
  local cpu; cpu=$(echo "$user + $sys" | bc)
  local mbs; mbs=$(echo "scale=1; $bytes / 1000000 / $wall" | bc)
  local lps; lps=$(echo "$lines / $wall" | bc)
  printf '%-32s wall %6.2f s  cpu %6.2f s  %7.1f MB/s  %9d lines/s  peak RSS %6.1f MiB\n' \
    "$name" "$wall" "$cpu" "$mbs" "$lps" "$(echo "scale=1; $rss / 1024" | bc)"
  echo "$name $wall" >> "$work/walls"
}

echo "file: $data ($bytes bytes, $lines lines); $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
run "wc -l" wc -l "$data"
run "cat > /dev/null" sh -c "cat '$data' > /dev/null"
rounds="${ROUNDS:-3}"
for round in $(seq "$rounds"); do
  echo "round $round of $rounds"
  run "ceiling: re-encode (1 thread)" "$target/ceiling" reencode "$data" --cri
  run "ceiling: splice (1 thread)" "$target/ceiling" splice "$data" --cri
  rm -rf "$work/data"
  LOGWEIR_BENCH_FILE="$pod_dir/0.log" LOGWEIR_DATA_DIR="$work/data" \
    LOGWEIR_BENCH_ES="http://127.0.0.1:$port" TOKIO_WORKER_THREADS="${LOGWEIR_THREADS:-2}" \
    run "logweir (${LOGWEIR_THREADS:-2} worker threads)" \
    "$logweir" --log-level warn run -c benches/pipelines/file_cri_parse_filter_es.toml
done
received=$(curl -s "http://127.0.0.1:$port/_stats/discard")
echo "endpoint received (all rounds): $received"

awk -v rounds="$rounds" '
  function median(list,   n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  /^ceiling: splice/ { splice = splice " " $NF }
  /^ceiling: re-encode/ { reencode = reencode " " $NF }
  /^logweir/ { lw = lw " " $NF; n++ }
  END {
    s = median(splice); r = median(reencode); l = median(lw)
    printf "medians of %d rounds: splice %.2f s, re-encode %.2f s, logweir %.2f s\n", n, s, r, l
    printf "logweir / splice ceiling: %.2fx   logweir / re-encode ceiling: %.2fx\n", s / l, r / l
  }' "$work/walls"
