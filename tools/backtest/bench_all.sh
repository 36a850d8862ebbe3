#!/usr/bin/env bash
# One run of every backtest benchmark on the same 1M one-minute bars (docs/benchmarks.md, "Backtest").
#
#   tools/backtest/bench_all.sh [TESSERA_BIN] [CSV] [NAUTILUS_BARS]
#
# Writes the CSV with make_1m_bars.py when missing, then runs `tessera bench backtest` and the
# peer tools one after another (never in parallel: the machine has 2 cores), each under
# /usr/bin/time for wall time and peak RSS. nautilus-trader runs on the first NAUTILUS_BARS bars
# (default all 1000000, ~30 s on an idle machine; a smaller count is extrapolated linearly by the reader).
# SKIP_TESSERA=1 or SKIP_PEERS=1 run one half.
set -euo pipefail
BIN=${1:-target/release/tessera}
CSV=${2:-/tmp/btcusdt_1m_1M.csv}
NT_BARS=${3:-1000000}
OUT=${OUT:-/tmp/tessera_bench_backtest}
mkdir -p "$OUT"
[ -f "$CSV" ] || python3 tools/backtest/make_1m_bars.py 1000000 "$CSV"
run() {
  local name=$1; shift
  echo "== $name: $*" >&2
  /usr/bin/time -f "{\"wall_s\": %e, \"peak_rss_kb\": %M}" -o "$OUT/$name.time" "$@" > "$OUT/$name.json" 2> "$OUT/$name.err" || echo "$name failed (see $OUT/$name.err)" >&2
  echo "$name: $(tail -c 600 "$OUT/$name.json") $(cat "$OUT/$name.time")"
}
uptime
if [ -z "${SKIP_TESSERA:-}" ]; then
run tessera_bench "$BIN" --json bench backtest --csv "$CSV"
run tessera_whole "$BIN" --json backtest --strategy sma_cross --param fast=10 --param slow=20 --csv "$CSV" --cash 1000000 --commission 0.001 --no-store
fi
[ -n "${SKIP_PEERS:-}" ] && exit 0
run backtestingpy python3 tools/backtest/bench_peers.py backtestingpy "$CSV"
run backtrader python3 tools/backtest/bench_peers.py backtrader "$CSV"
run vectorbt python3 tools/backtest/bench_peers.py vectorbt "$CSV"
run vectorbt_sweep python3 tools/backtest/bench_peers.py vectorbt-sweep "$CSV"
run nautilus python3 tools/backtest/bench_peers.py nautilus "$CSV" "$NT_BARS"
uptime
