#!/usr/bin/env bash
# End-to-end latency harness (issue #11: "p99 latency from a line written to the bulk request
# carrying it under 1 s at 10,000 lines/s with default batching").
#
#   benches/latency.sh [SECONDS]            # default 30 s at 10,000 lines/s
#   LATENCY_RATE=20000 LATENCY_DRAIN=5 LOGWEIR_THREADS=1 benches/latency.sh 10
#   LATENCY_REQUESTS_LOG=/tmp/requests.log benches/latency.sh   # keep the per-request lines
#   LATENCY_PIPELINE=my.toml benches/latency.sh   # another pipeline (same env variables)
#
# latency_writer appends CRI lines stamped with their write time to a kubelet-style pod log
# while logweir tails it through benches/pipelines/file_cri_latency_es.toml (file -> parse_json
# -> filter -> Elasticsearch with default batching and default compression, gzip) into
# `es_discard --latency`, which measures each document's time from write to the arrival of the
# bulk request carrying it. After the writer stops and a drain period, everything is stopped
# and the percentiles are printed with logweir's CPU time and peak RSS. Everything runs under
# a temp dir that is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
rate="${LATENCY_RATE:-10000}"
drain="${LATENCY_DRAIN:-5}"
target="${CARGO_TARGET_DIR:-target}/release"
cargo build --quiet --release -p logweir -p logweir-benches --bins

work="$(mktemp -d /tmp/logweir-latency.XXXXXX)"
cleanup() {
  for pid in "${writer_pid:-}" "${lw_pid:-}" "${es_pid:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
# Copies: the target dir may be shared, and another build must not swap a binary mid-run.
for bin in logweir es_discard latency_writer; do cp "$target/$bin" "$work/"; done

pod_dir="$work/pods/shop_cart-7d9f5c_0f9c2a44-1b2c-4d5e-8f90-123456789abc/cart"
mkdir -p "$pod_dir"
port=$((20000 + RANDOM % 20000))
"$work/es_discard" "127.0.0.1:$port" --latency --log-requests > "$work/es.out" 2> "$work/requests.log" &
es_pid=$!
for _ in $(seq 50); do
  curl -sf "http://127.0.0.1:$port/" > /dev/null && break
  sleep 0.1
done

LOGWEIR_BENCH_FILE="$pod_dir/0.log" LOGWEIR_DATA_DIR="$work/data" \
  LOGWEIR_BENCH_ES="http://127.0.0.1:$port" TOKIO_WORKER_THREADS="${LOGWEIR_THREADS:-2}" \
  "$work/logweir" --log-level warn run -c "${LATENCY_PIPELINE:-benches/pipelines/file_cri_latency_es.toml}" \
  2> "$work/logweir.log" &
lw_pid=$!
sleep 2   # startup: the sink's first request, the source's directory watch
if ! kill -0 "$lw_pid" 2>/dev/null; then
  echo "logweir did not start:" >&2; cat "$work/logweir.log" >&2; exit 1
fi

echo "$(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg); $rate lines/s for $seconds s, drain $drain s, ${LOGWEIR_THREADS:-2} worker threads"
"$work/latency_writer" --path "$pod_dir/0.log" --rate "$rate" --seconds "$seconds" &
writer_pid=$!
wait "$writer_pid"
writer_pid=
sleep "$drain"

# logweir's CPU time and peak RSS, read before it is stopped.
ticks=$(getconf CLK_TCK)
read -r utime stime < <(cut -d' ' -f14,15 "/proc/$lw_pid/stat")
hwm_kb=$(awk '/^VmHWM/ { print $2 }' "/proc/$lw_pid/status")
stats=$(curl -s "http://127.0.0.1:$port/_stats/discard")
kill -TERM "$lw_pid"
for _ in $(seq 100); do kill -0 "$lw_pid" 2>/dev/null || break; sleep 0.1; done
wait "$lw_pid" 2>/dev/null || true
lw_pid=
kill -TERM "$es_pid"
wait "$es_pid" 2>/dev/null || true
es_pid=

echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "endpoint: $stats"
printf 'logweir: cpu %.2f s (%.1f%% of one core over the run), peak RSS %.1f MiB\n' \
  "$(echo "scale=2; ($utime + $stime) / $ticks" | bc)" \
  "$(echo "scale=2; ($utime + $stime) * 100 / $ticks / ($seconds + $drain + 2)" | bc)" \
  "$(echo "scale=1; $hwm_kb / 1024" | bc)"
echo "$stats" | python3 -c '
import json, sys
l = json.load(sys.stdin)["latency"]
print("latency write -> bulk request: count %d  p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  p99.9 %.1f ms  max %.1f ms  (unmarked %d)"
      % (l["count"], l["p50_ms"], l["p90_ms"], l["p99_ms"], l["p999_ms"], l["max_ms"], l["unmarked"]))'
# Request spacing and size: where the latency comes from.
awk '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
       n++; docs += v["documents"]; if (n > 1) { gap = v["at_ms"] - last; gaps += gap; if (gap > maxgap) maxgap = gap }
       last = v["at_ms"]; spread += v["oldest_ms"] - v["newest_ms"] }
     END { if (n > 1) printf "bulk requests: %d, %.0f documents each, every %.0f ms (longest gap %d ms), oldest - newest document %.0f ms on average\n",
             n, docs / n, gaps / (n - 1), maxgap, spread / n }' "$work/requests.log"
if [ -n "${LATENCY_REQUESTS_LOG:-}" ]; then cp "$work/requests.log" "$LATENCY_REQUESTS_LOG"; fi
# The ~2% plain-text lines are counted parse failures (expected); anything else is shown.
if grep -v "is not valid JSON" "$work/logweir.log" | grep -qi "error\|warn"; then
  echo "logweir logged:"; grep -v "is not valid JSON" "$work/logweir.log" | head -20
fi
