#!/usr/bin/env bash
# Rerunnable benchmarks of aura-signup on Postgres, side by side with the yardstick in
# ../shared/bench (Stripe's documented Node endpoint, verify-only and with a durable insert)
# and pgbench's single-row insert rate, in one run on this machine. Prints one table.
#
#   bench/run.sh                 # everything (about 10 minutes)
#   QUICK=1 bench/run.sh         # 5-second runs, for trying the script out
#
# Needs: cargo, Postgres on 127.0.0.1:5432 (trust auth, user postgres; PGURL overrides),
# psql, pgbench, wrk (Debian's package), python3, node 20 + npm. The Node yardstick's
# packages are installed once into NODE_DIR (outside the repository). Loopback only.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED_BENCH:-$ROOT/../shared/bench}
NODE_DIR=${NODE_DIR:-$ROOT/../bench-scratch}
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$CARGO_TARGET_DIR/release/aura-signup
HELPER=$CARGO_TARGET_DIR/release/examples/bench_helper

DURATION=${DURATION:-15}
[ "${QUICK:-}" = 1 ] && DURATION=5
CONNS=${CONNS:-50}
RATE=${RATE:-1000}
PORT_SVC=${PORT_SVC:-18180} PORT_SIM=${PORT_SIM:-18181} PORT_STRIPE=${PORT_STRIPE:-18182}
PORT_NODE_VERIFY=${PORT_NODE_VERIFY:-18142} PORT_NODE_STORE=${PORT_NODE_STORE:-18143}
WHSEC=whsec_bench_$(date +%s)
JWT_SECRET=bench-jwt-secret-$(date +%s)
REDIRECT=https://app.bench.example/done

WORK=$(mktemp -d /tmp/aura-bench.XXXXXX)
DB=aura_bench_$(date +%s)
DBURL=$PGURL/$DB
PIDS=()
declare -A ROW

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql -q "$PGURL/postgres" -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

need() { command -v "$1" >/dev/null || { echo "bench: $1 is required ($2)" >&2; exit 2; }; }

check_tools() {
  need cargo "rustup"; need psql "apt-get install postgresql-client"
  need pgbench "apt-get install postgresql-contrib"; need wrk "apt-get install wrk"
  need python3 "python3"; need node "node 20"; need npm "npm"; need curl "curl"
  [ -f "$SHARED/gen_events.py" ] || { echo "bench: no yardstick at $SHARED" >&2; exit 2; }
  if [ ! -d "$NODE_DIR/node_modules/stripe" ]; then
    log "installing the yardstick's packages into $NODE_DIR"
    mkdir -p "$NODE_DIR"
    (cd "$NODE_DIR" && { [ -f package.json ] || npm init -y >/dev/null; } \
      && timeout 300 npm install --silent stripe@23 express@5 pg >/dev/null)
  fi
}

# Waits (at most 5 minutes) for the machine to calm down: other builds skew every figure.
wait_for_quiet() {
  local deadline=$((SECONDS + ${QUIET_WAIT:-300}))
  while (( SECONDS < deadline )); do
    awk '{exit !($1 < 1.5)}' /proc/loadavg && return 0
    log "load $(cut -d' ' -f1-3 /proc/loadavg): waiting for a quieter machine"
    sleep 15
  done
  log "still busy; measuring anyway (the load is reported with the figures)"
}

# Between runs: the database tidied (VACUUM ANALYZE after the last run's rows) and the machine
# given up to a minute to calm down, so no run pays for the one before it.
settle() {
  psql -q "$DBURL" -c "VACUUM (ANALYZE)" >/dev/null 2>&1 || true
  QUIET_WAIT=60 wait_for_quiet
}

build() {
  log "building the release binary and the bench helper"
  (cd "$ROOT" && cargo build --release --quiet --bin aura-signup --example bench_helper)
}

# Starts a background process with its output in $WORK/<name>.log; remembers its pid.
spawn() {
  local name=$1; shift
  "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  eval "PID_${name//-/_}=$!"
}

wait_http() {
  for _ in $(seq 1 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "bench: $1 did not answer; see $WORK" >&2; tail -20 "$WORK"/*.log >&2; exit 1
}

start_everything() {
  psql -q "$PGURL/postgres" -c "CREATE DATABASE $DB" >/dev/null
  psql -q "$DBURL" -c "CREATE TABLE anchor_events (id text primary key, type text, payload text,
    received_at timestamptz default now()); CREATE TABLE pgbench_ins (id bigserial primary key,
    payload text not null)" >/dev/null
  spawn stripe "$HELPER" stripe --bind "127.0.0.1:$PORT_STRIPE"
  spawn sim env -u AURA_API_URL -u DATABASE_URL "$BIN" aura-sim --bind "127.0.0.1:$PORT_SIM"
  spawn svc env DATABASE_URL="$DBURL" BIND_ADDR="127.0.0.1:$PORT_SVC" \
    PUBLIC_BASE_URL="http://127.0.0.1:$PORT_SVC" LOG_FORMAT="${LOG_FORMAT:-json}" \
    AURA_JWT_SECRET="$JWT_SECRET" REDIRECT_ALLOWED_ORIGINS=https://app.bench.example \
    STRIPE_SECRET_KEY=sk_test_bench STRIPE_WEBHOOK_SECRET="$WHSEC" \
    STRIPE_PRICE_SINGLE=price_bench_single STRIPE_PRICE_FAMILY=price_bench_family \
    STRIPE_API_BASE="http://127.0.0.1:$PORT_STRIPE/" AURA_API_URL="http://127.0.0.1:$PORT_SIM" \
    AURA_CLIENT_ID=aura-sim-client AURA_CLIENT_SECRET=aura-sim-secret "$BIN" serve
  spawn node-verify env MODE=verify WHSEC="$WHSEC" PORT=$PORT_NODE_VERIFY \
    NODE_PATH="$NODE_DIR/node_modules" node "$SHARED/node_anchor.js"
  spawn node-store env MODE=store WHSEC="$WHSEC" PORT=$PORT_NODE_STORE PGURL="$DBURL" \
    NODE_PATH="$NODE_DIR/node_modules" node "$SHARED/node_anchor.js"
  wait_http "http://127.0.0.1:$PORT_SVC/readyz"
  wait_http "http://127.0.0.1:$PORT_SIM/_sim/calls"
  for port in $PORT_NODE_VERIFY $PORT_NODE_STORE; do
    for _ in $(seq 1 50); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  done
}

# ---- measuring ------------------------------------------------------------------------------

# Samples the service's resident memory every 200 ms into $WORK/rss.<phase> (the maximum, kB).
rss_start() {
  local out=$WORK/rss.$1
  ( max=0; while :; do
      v=$(awk '/^VmRSS/{print $2}' "/proc/$PID_svc/status" 2>/dev/null || echo 0)
      (( v > max )) && max=$v && echo "$max" >"$out"
      sleep 0.2
    done ) &
  RSS_PID=$!
}
rss_stop() { kill "$RSS_PID" 2>/dev/null; wait "$RSS_PID" 2>/dev/null || true; }
rss_mb() { awk '{printf "%.1f", $1/1024}' "$WORK/rss.$1" 2>/dev/null || echo "-"; }

# wrk's latency figures are in us, ms or s; this prints milliseconds.
to_ms() { awk '{v=$1; if (v ~ /us$/) printf "%.2f", v/1000; else if (v ~ /ms$/) printf "%.2f", v+0;
  else if (v ~ /s$/) printf "%.2f", v*1000; else print "-"}'; }
wrk_rps() { awk '/^Requests\/sec/{printf "%.0f", $2}' "$1"; }
wrk_pct() { awk -v p="$2%" '$1==p{print $2}' "$1" | to_ms; }
wrk_errors() { awk '/Non-2xx|Socket errors|timeout/{e=e $0 "; "} END{print e}' "$1"; }
load_now() { cut -d' ' -f1 /proc/loadavg; }
count() { psql -Atq "$DBURL" -c "SELECT COUNT(*) FROM $1"; }

# Records one table row: name, per-second figure, p50, p99, RSS, load, note.
row() { ROW[$1]="$2|$3|$4|$5|$6|$7"; ORDER+=("$1"); }
ORDER=()

bench_pgbench() {
  echo "INSERT INTO pgbench_ins (payload) VALUES ('x');" >"$WORK/ins.sql"
  local load; load=$(load_now)
  pgbench -n -c 16 -j 2 -T "$DURATION" -f "$WORK/ins.sql" "$DBURL" >"$WORK/pgbench.out" 2>&1
  local tps; tps=$(awk '/^tps/{printf "%.0f", $3}' "$WORK/pgbench.out")
  local lat; lat=$(awk '/latency average/{print $4}' "$WORK/pgbench.out")
  PGBENCH_TPS=$tps
  row "pgbench single-row INSERT (-c16)" "$tps" "avg $lat" "-" "-" "$load" "transactions/s"
}

# Runs wrk with fresh signed events against a webhook endpoint; counts rows made durable.
bench_webhook() {
  local key=$1 name=$2 port=$3 table=$4 events=$WORK/events.jsonl
  python3 "$SHARED/gen_events.py" "${EVENTS_N:-400000}" "$WHSEC" "$events"
  local before=0; [ -n "$table" ] && before=$(count "$table")
  local load; load=$(load_now)
  rss_start "$key"
  EVENTS=$events THREADS=2 wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency \
    -s "$ROOT/bench/replay_unique.lua" "http://127.0.0.1:$port" >"$WORK/wrk.$key" 2>&1
  rss_stop
  local durable="-"
  [ -n "$table" ] && durable=$(( ($(count "$table") - before) / DURATION ))
  local rss="-"; [ "$port" = "$PORT_SVC" ] && rss=$(rss_mb "$key")
  local out=$WORK/wrk.$key
  row "$name" "$(wrk_rps "$out") req/s, $durable durable/s" \
    "$(wrk_pct "$out" 50)" "$(wrk_pct "$out" 99)" "$rss" "$load" "$(wrk_errors "$out")"
  eval "DURABLE_$key=$durable"
}

bench_constant_rate() {
  local events=$WORK/events.jsonl seconds=$((DURATION + 5))
  python3 "$SHARED/gen_events.py" $((RATE * seconds)) "$WHSEC" "$events"
  local load; load=$(load_now)
  rss_start rate
  local out; out=$("$HELPER" rate --url "http://127.0.0.1:$PORT_SVC/webhooks/stripe" \
    --events "$events" --rate "$RATE" --seconds "$seconds")
  rss_stop
  local f; f() { tr ' ' '\n' <<<"$out" | awk -F= -v k="$1" '$1==k{print $2}'; }
  row "ours: intake at a constant $RATE/s" "$(f achieved_per_s) sent/s" "$(f p50_ms)" \
    "$(f p99_ms)" "$(rss_mb rate)" "$load" "failed $(f failed), max $(f max_ms) ms"
}

bench_entry() {
  "$HELPER" tokens --count 2000 --secret "$JWT_SECRET" >"$WORK/tokens"
  local before load; before=$(count signups); load=$(load_now)
  rss_start entry
  TOKENS=$WORK/tokens REDIRECT=$REDIRECT wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency \
    -s "$ROOT/bench/entry.lua" "http://127.0.0.1:$PORT_SVC" >"$WORK/wrk.entry" 2>&1
  rss_stop
  local stored=$(( ($(count signups) - before) / DURATION ))
  ENTRY_RPS=$(wrk_rps "$WORK/wrk.entry")
  row "ours: sign-up entry (verify, INSERT, 303)" "$ENTRY_RPS req/s, $stored stored/s" \
    "$(wrk_pct "$WORK/wrk.entry" 50)" "$(wrk_pct "$WORK/wrk.entry" 99)" "$(rss_mb entry)" \
    "$load" "$(wrk_errors "$WORK/wrk.entry")"
}

bench_plan() {
  psql -Atq "$DBURL" -c "SELECT id FROM signups ORDER BY created_at DESC LIMIT 2000" >"$WORK/ids"
  local load; load=$(load_now)
  rss_start plan
  IDS=$WORK/ids wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency \
    -s "$ROOT/bench/plan.lua" "http://127.0.0.1:$PORT_SVC" >"$WORK/wrk.plan" 2>&1
  rss_stop
  PLAN_RPS=$(wrk_rps "$WORK/wrk.plan")
  row "ours: plan page (SELECT, render)" "$PLAN_RPS renders/s" "$(wrk_pct "$WORK/wrk.plan" 50)" \
    "$(wrk_pct "$WORK/wrk.plan" 99)" "$(rss_mb plan)" "$load" "$(wrk_errors "$WORK/wrk.plan")"
}

bench_activation() {
  local n=${ACTIVATIONS:-500} rate=${ACTIVATION_RATE:-100}
  local load; load=$(load_now)
  rss_start activation
  local out; out=$("$HELPER" activate --url "http://127.0.0.1:$PORT_SVC/webhooks/stripe" \
    --sim "http://127.0.0.1:$PORT_SIM" --database-url "$DBURL" --whsec "$WHSEC" \
    --count "$n" --rate "$rate" 2>"$WORK/activation.err")
  rss_stop
  local f; f() { tr ' ' '\n' <<<"$out" | awk -F= -v k="$1" '$1==k{print $2}'; }
  row "ours: activation, event to AURA call ($rate/s)" "$(f activated)/$(f of) activated" \
    "$(f p50_ms)" "$(f p99_ms)" "$(rss_mb activation)" "$load" "max $(f max_ms) ms"
}

print_table() {
  local hwm; hwm=$(awk '/^VmHWM/{printf "%.1f", $2/1024}' "/proc/$PID_svc/status")
  echo
  echo "aura-signup benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r)"
  echo "Postgres $(psql -Atq "$DBURL" -c 'SHOW server_version'), synchronous_commit=$(psql -Atq "$DBURL" -c 'SHOW synchronous_commit'); wrk -t2 -c$CONNS -d${DURATION}s"
  echo
  printf '| %-46s | %-28s | %8s | %8s | %7s | %5s | %s\n' "run" "rate" "p50 ms" "p99 ms" "RSS MB" "load" "notes"
  printf '|%s|%s|%s|%s|%s|%s|%s\n' "$(printf -- '-%.0s' {1..48})" "$(printf -- '-%.0s' {1..30})" \
    "----------" "----------" "---------" "-------" "------"
  for name in "${ORDER[@]}"; do
    IFS='|' read -r rate p50 p99 rss load note <<<"${ROW[$name]}"
    printf '| %-46s | %-28s | %8s | %8s | %7s | %5s | %s\n' "$name" "$rate" "$p50" "$p99" "$rss" "$load" "$note"
  done
  echo
  echo "Service peak resident memory over the whole run (VmHWM): $hwm MB"
  print_ratios
}

print_ratios() {
  local ours=${DURABLE_ours:-0} node=${DURABLE_node_store:-0}
  awk -v o="$ours" -v n="$node" -v p="$PGBENCH_TPS" -v e="$ENTRY_RPS" -v pl="$PLAN_RPS" 'BEGIN {
    printf "Intake durable/s vs the durable yardstick: %.2fx (target >= 2.5x)\n", (n ? o/n : 0)
    printf "Intake durable/s vs pgbench inserts:       %.0f%% (target >= 40%%)\n", (p ? 100*o/p : 0)
    printf "Entries/s vs pgbench inserts:              %.0f%% (target >= 40%%)\n", (p ? 100*e/p : 0)
    printf "Plan page renders/s:                       %d (target >= 10000)\n", pl }'
}

main() {
  check_tools
  build
  start_everything
  wait_for_quiet
  log "pgbench";                         bench_pgbench
  settle; log "Node yardstick, verify only";     bench_webhook node_verify "yardstick: Node, verify only" "$PORT_NODE_VERIFY" ""
  settle; log "Node yardstick, durable insert";  bench_webhook node_store "yardstick: Node, durable insert" "$PORT_NODE_STORE" anchor_events
  settle; log "our webhook intake";              bench_webhook ours "ours: webhook intake (durable)" "$PORT_SVC" gateway_events
  settle; log "our intake at a constant rate";   bench_constant_rate
  settle; log "sign-up entry";                   bench_entry
  settle; log "plan page";                       bench_plan
  settle; log "activation latency";              bench_activation
  print_table
}

main "$@"
