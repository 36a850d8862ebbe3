#!/usr/bin/env bash
# API benchmark: wrk against GET /api/v1/bars (one day of 1-minute bars in one
# response, 64 connections), then dashboard page render times in headless
# Chromium. Numbers go to docs/benchmarks.md (## API (issue 9)).
#
#   TESSERA_BIN=target/release/tessera tools/api/bench.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
TESSERA_BIN="${TESSERA_BIN:-$ROOT/target/release/tessera}"
DURATION="${DURATION:-15s}"
WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
export TESSERA_DATA_DIR="$WORK/data" TESSERA_DATABASE_URL="sqlite://$WORK/data/tessera.db"
export TESSERA_API_RATE_LIMIT_PER_MINUTE=0 TESSERA_API_OPEN_READ_ON_LOOPBACK=true TESSERA_LOG_LEVEL=warn
unset RUST_LOG
python3 "$ROOT/tools/api/demo_bars.py" --days "${DAYS:-30}" > "$WORK/demo.csv"
"$TESSERA_BIN" data import "$WORK/demo.csv" --format ohlcv-csv --symbol DEMOUSDT --venue sim --interval 1m --kind crypto >/dev/null
TOKEN="$("$TESSERA_BIN" tokens create --scope read 2>/dev/null)"
"$TESSERA_BIN" serve --port 0 > "$WORK/serve.out" 2>/dev/null &
SERVER_PID=$!
for _ in $(seq 1 100); do grep -q "listening on" "$WORK/serve.out" 2>/dev/null && break; sleep 0.1; done
ADDR="$(grep -o 'http://[0-9.:]*' "$WORK/serve.out" | head -1)"
URL="$ADDR/api/v1/bars?symbol=DEMOUSDT&venue=sim&interval=1m&from=2024-01-10&to=2024-01-11&limit=1440"
echo "== one day of 1m bars: $(curl -s -H "Authorization: Bearer $TOKEN" "$URL" | wc -c) bytes"
echo "== wrk JSON, token"
wrk -t2 -c64 -d"$DURATION" --latency -H "Authorization: Bearer $TOKEN" "$URL"
echo "== wrk CSV, token"
wrk -t2 -c64 -d"$DURATION" --latency -H "Authorization: Bearer $TOKEN" -H "Accept: text/csv" "$URL"
echo "== wrk 1h resampled from 1m (30 days -> 720 bars)"
wrk -t2 -c64 -d"$DURATION" --latency -H "Authorization: Bearer $TOKEN" "$ADDR/api/v1/bars?symbol=DEMOUSDT&interval=1h&limit=1000"
echo "== page render (ms from route start to data-ready, in headless Chromium)"
for page in markets portfolio backtests models operations; do
  dom="$(chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --disable-background-networking \
    --disable-component-update --no-first-run --disable-sync --user-data-dir="$WORK/chromium" \
    --window-size=1280,900 --virtual-time-budget=8000 --dump-dom "$ADDR/#/$page" 2>/dev/null)"
  echo "$page: $(grep -o 'data-render-ms="[0-9]*"' <<<"$dom" | head -1)"
done
