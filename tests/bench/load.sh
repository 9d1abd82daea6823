#!/usr/bin/env bash
# `make bench-load`: the HTTPS load harness, on loopback, against the release build.
#
# Three servers of the same stack run side by side: the real decisions over
# manifests/examples (port 9443), the no-op reviewer (port 9444), the ceiling, and a reviewer
# that only parses the body into a serde_json::Value (port 9445, "value-parse": generic JSON
# parsing, which the real decisions should beat; keep-alive rows only). Each is measured with
# a ~2 KB recorded BatchJob review:
#   - HTTP/1.1 keep-alive, 8 and 64 connections (wrk, --latency percentiles)
#   - HTTP/1.1 with a new TLS connection per request (ab, no keep-alive)
#   - HTTP/2, 8 connections x 8 streams (h2load; percentiles from its request log)
#   - HTTP/1.1 keep-alive at a fixed 10,000 requests/s offered (h2load --h1 --rps over 8
#     connections): the latency the API server sees at a steady load, not at saturation
#   - under attack: /validate at 5,000 requests/s offered, alone and then while
#     tests/bench/hostile_load.rs holds 1,000 idle TLS connections and 4 clients post 3 MiB
#     reviews (maps of tiny entries, the costliest shape) back to back
# and the server's CPU time per request (utime+stime from /proc, divided by requests).
# Load generator and servers share this machine's cores: compare runs, not absolutes.
#
# Every throughput row also shows its ratio to the no-op row of the same mode measured just
# before it ("x noop"). This machine's speed drifts by a quarter between runs a minute
# apart, so ROUNDS=N repeats the keep-alive and HTTP/2 rows N times, interleaved, and ends
# with the median ratio of each row over the rounds.
#
# LOADGEN_SCHED=batch runs the load generators under SCHED_BATCH (`chrt -b 0`, no privilege
# needed); the default leaves them under the default policy. Sharing two cores, a generator
# under the default policy preempts the server at every response it is woken for: with the
# real decisions that was ~0.9 context switches per request against ~0.2 for the no-op, and a
# third of the server's CPU samples in the scheduler and its IPIs, a cost an API server on its
# own node does not impose. A batch generator is not woken into preemption, which shows the
# server's capacity at 64 connections; but it is itself woken late, which caps the 8-connection
# rows and adds its own delay to every latency figure, so it is not the default.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-1}
case ${LOADGEN_SCHED:-default} in
  batch) gen=(chrt --batch 0) ;;
  default) gen=() ;;
  *) echo "LOADGEN_SCHED must be batch or default, not ${LOADGEN_SCHED}" >&2; exit 2 ;;
esac

need() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
missing=()
need wrk wrk; need h2load nghttp2-client; need ab apache2-utils
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} (Debian packages)"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq "${missing[@]}" >/dev/null; fi
fi

cargo build --release --quiet --bin kbatch -p kbatch-webhook --example bench_server
cargo build --release --quiet -p kbatch-e2e --example hostile_load
target=${CARGO_TARGET_DIR:-target}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
"$target/release/kbatch" certs --out "$work" --host 127.0.0.1 >/dev/null

start() { # port probe-port args...
  local port=$1 probe=$2; shift 2
  "$target/release/examples/bench_server" --addr "127.0.0.1:$port" --probe-addr "127.0.0.1:$probe" \
    --tls-cert "$work/tls.crt" --tls-key "$work/tls.key" "$@" >"$work/server-$port.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$probe/readyz" >/dev/null && return; sleep 0.1; done
  echo "server on $port did not become ready"; cat "$work/server-$port.log"; exit 1
}
start 9443 9080 --policy manifests/examples
policy_pid=${pids[-1]}
start 9444 9081 --noop
noop_pid=${pids[-1]}
start 9445 9082 --parse-value
parse_pid=${pids[-1]}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
echo "load generators scheduled: ${LOADGEN_SCHED:-default}; ${DURATION}s per row"
printf "%-11s %-9s %-22s %10s %7s %9s %9s %12s\n" endpoint body mode "req/s" "x noop" "p50 ms" "p99 ms" "cpu µs/req"

declare -A noop_rps # mode -> req/s of the latest no-op row
ratios="$work/ratios"
report() { # endpoint body mode pid requests rps p50 p99 ticks_before
  local ticks=$(( $(cpu_ticks "$4") - $9 ))
  local cpu_us="n/a" ratio="-"
  [ "$5" -gt 0 ] && cpu_us=$(awk -v t="$ticks" -v hz="$hz" -v n="$5" 'BEGIN{printf "%.1f", t/hz*1e6/n}')
  if [ "$1" = noop ]; then
    noop_rps[$3]=$6
  elif [[ $3 != *fixed* ]] && [ -n "${noop_rps[$3]:-}" ] && [ "${noop_rps[$3]}" -gt 0 ] && [ -n "$6" ]; then
    ratio=$(awk -v r="$6" -v n="${noop_rps[$3]}" 'BEGIN{printf "%.2f", r/n}')
    echo "$1|$3|$ratio" >>"$ratios"
  fi
  printf "%-11s %-9s %-22s %10s %7s %9s %9s %12s\n" "$1" "$2" "$3" "$6" "$ratio" "$7" "$8" "$cpu_us"
}

ms() { # wrk latency like 1.23ms / 456.00us / 1.2s -> ms
  awk -v v="$1" 'BEGIN{ if (v ~ /us$/) {sub(/us$/,"",v); printf "%.3f", v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v); printf "%.3f", v} else {sub(/s$/,"",v); printf "%.3f", v*1000} }'
}

run_wrk() { # name port path body conns pid
  local before; before=$(cpu_ticks "$6")
  local out; out=$(BODY="$4" "${gen[@]}" wrk -t2 -c"$5" -d"${DURATION}s" --latency -s tests/bench/post.lua "https://127.0.0.1:$2$3")
  local n rps p50 p99
  n=$(echo "$out" | awk '/requests in/ {print $1}')
  rps=$(echo "$out" | awk '/Requests\/sec/ {printf "%.0f", $2}')
  p50=$(ms "$(echo "$out" | awk '$1=="50%" {print $2}')")
  p99=$(ms "$(echo "$out" | awk '$1=="99%" {print $2}')")
  if echo "$out" | grep -q "Non-2xx"; then echo "$out" | grep "Non-2xx"; fi
  report "$1" "$(basename "$4" .json)" "http/1.1 keep-alive c=$5" "$6" "$n" "$rps" "$p50" "$p99" "$before"
}

run_ab() { # name port path body pid
  local before; before=$(cpu_ticks "$5")
  local n=$(( DURATION * 300 ))
  local out; out=$("${gen[@]}" ab -q -n "$n" -c 8 -p "$4" -T application/json "https://127.0.0.1:$2$3" 2>&1)
  local rps p50 p99
  rps=$(echo "$out" | awk '/Requests per second/ {printf "%.0f", $4}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  report "$1" "$(basename "$4" .json)" "http/1.1 new TLS conn" "$5" "$n" "$rps" "$p50" "$p99" "$before"
}

run_h2load() { # name port path body pid mode h2load-options...
  local before; before=$(cpu_ticks "$5")
  local log="$work/h2load.log"
  rm -f "$log" # h2load appends to its log: each row counts only its own requests
  local out; out=$("${gen[@]}" h2load -D "$DURATION" -t 2 "${@:7}" -H 'Content-Type: application/json' -d "$4" \
    --log-file="$log" "https://127.0.0.1:$2$3" 2>&1)
  local n rps p50 p99
  # Failures and non-2xx answers are shown, as wrk's are.
  echo "$out" | awk '/^requests:/ && ($10 + $12 + $14) > 0' | sed 's/^/  /'
  echo "$out" | awk '/^status codes:/ && ($5 + $7 + $9) > 0' | sed 's/^/  /'
  n=$(wc -l <"$log")
  rps=$(echo "$out" | awk '/finished in/ {for (i=1;i<=NF;i++) if ($i ~ /req\/s/) {v=$(i-1); gsub(/,/,"",v); printf "%.0f", v}}')
  read -r p50 p99 < <(awk '{print $3}' "$log" | sort -n | awk '{a[NR]=$1} END {printf "%.3f %.3f\n", a[int(NR*0.5)]/1000, a[int(NR*0.99)]/1000}')
  report "$1" "$(basename "$4" .json)" "$6" "$5" "$n" "$rps" "$p50" "$p99" "$before"
}

run_h2() { # name port path body pid
  run_h2load "$@" "http/2 c=8 m=8" -c 8 -m 8
}

run_rate() { # name port path body pid: HTTP/1.1 over 8 connections at $RATE req/s offered
  local rate=${RATE:-10000}
  run_h2load "$@" "http/1.1 fixed ${rate}/s" --h1 -c 8 --rps $(( rate / 8 ))
}

# /validate gets fixture 020 as the API server sends it after our mutating round (kept current
# by tests/e2e's the_bench_bodies_are_a_real_round); /mutate gets fixture 019 as recorded.
validate_body=tests/bench/validate.json
mutate_body=tests/fixtures/admission/019.json

for round in $(seq "$ROUNDS"); do
  [ "$ROUNDS" -gt 1 ] && echo "round $round of $ROUNDS"
  for conns in 8 64; do
    run_wrk noop 9444 /validate "$validate_body" "$conns" "$noop_pid"
    run_wrk value-parse 9445 /validate "$validate_body" "$conns" "$parse_pid"
    run_wrk validate 9443 /validate "$validate_body" "$conns" "$policy_pid"
    run_wrk mutate 9443 /mutate "$mutate_body" "$conns" "$policy_pid"
  done
  run_h2 noop 9444 /validate "$validate_body" "$noop_pid"
  run_h2 validate 9443 /validate "$validate_body" "$policy_pid"
  run_h2 mutate 9443 /mutate "$mutate_body" "$policy_pid"
done
run_ab noop 9444 /validate "$validate_body" "$noop_pid"
run_ab validate 9443 /validate "$validate_body" "$policy_pid"
run_ab mutate 9443 /mutate "$mutate_body" "$policy_pid"
run_rate noop 9444 /validate "$validate_body" "$noop_pid"
run_rate validate 9443 /validate "$validate_body" "$policy_pid"
run_rate mutate 9443 /mutate "$mutate_body" "$policy_pid"

# Under attack: the same offered rate of legitimate reviews, alone and then beside the attack.
run_h2load validate 9443 /validate "$validate_body" "$policy_pid" "http/1.1 fixed 5000/s" --h1 -c 8 --rps 625
"$target/release/examples/hostile_load" 127.0.0.1:9443 "$work/ca.crt" 1000 4 3141000 2>"$work/hostile.log" &
pids+=($!)
# Measured once the idle connections are open and large reviews are flowing.
for _ in $(seq 120); do
  last=$(tail -n 1 "$work/hostile.log" 2>/dev/null || true)
  open=$(echo "$last" | awk '{print $2}'); sent=$(echo "$last" | awk '{print $6}')
  [ "${open:-0}" -ge 1000 ] && [ "${sent:-0}" -ge 1 ] && break
  sleep 0.5
done
echo "  attack before the row: ${last:-no report}"
run_h2load validate 9443 /validate "$validate_body" "$policy_pid" "  attacked (1000 idle, 3 MiB x4)" --h1 -c 8 --rps 625
kill "${pids[-1]}" 2>/dev/null || true
tail -n 1 "$work/hostile.log" | sed 's/^/  /'

if [ "$ROUNDS" -gt 1 ]; then
  echo "median ratio to the no-op over $ROUNDS rounds (each round's ratios in brackets):"
  # Sorted by row, then by ratio: each row's values arrive in order and the median is picked.
  sort -t'|' -k1,1 -k2,2 -k3,3n "$ratios" | awk -F'|' '
    function show() {
      if (m == 0) return
      median = (m % 2) ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
      printf "  %-11s %-22s %5.2f  [%s]\n", row1, row2, median, list
    }
    $1 "|" $2 != row1 "|" row2 { show(); row1 = $1; row2 = $2; m = 0; list = "" }
    { v[++m] = $3; list = list (m > 1 ? " " : "") $3 }
    END { show() }'
fi
