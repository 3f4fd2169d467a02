#!/usr/bin/env bash
# SIP throughput benchmark: pbx against Kamailio, side by side, with the same SIPp
# scenarios, users and passwords. Prints figures; it is not a test.
#
#   1. authenticated registrations per second (REGISTER → 401 → REGISTER with digest → 200)
#   2. authenticated calls per second through the server
#      (INVITE → 407 → ACK, INVITE with credentials → 100/180/200 → ACK → BYE → 200)
#
# For each server and each figure it ramps the SIPp target rate up (doubling, then
# bisecting), each step about STEP_SECONDS long, and keeps the best achieved rate
# (successful / elapsed) of the steps with under 1 % failed calls and at least 90 %
# of the target rate. Everything talks to 127.0.0.1 only and every SIPp run is
# bounded (-m and -timeout). See bench/README.md.
#
# Needs: sipp (apt-get install -y sip-tester), kamailio (apt-get install -y kamailio),
# node, and a built pbx (npm run build). Installs and builds nothing.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench

# ---- settings (environment) -------------------------------------------------
PBX_SIP_PORT=${PBX_SIP_PORT:-15060}
PBX_API_PORT=${PBX_API_PORT:-18080}
KAM_PORT=${KAM_PORT:-25060}
SIPP_PORT_BASE=${SIPP_PORT_BASE:-16000}     # SIPp process i uses BASE+10i+1 (UAC/REGISTER) and BASE+10i+2 (UAS)
USERS=${USERS:-1000}                        # extensions 10000.. (registrations and callers)
CALLEES=${CALLEES:-20}                      # extensions 20000.. (registered from the UAS port, answered by the UAS)
STEP_SECONDS=${STEP_SECONDS:-5}
SETTLE_SECONDS=${SETTLE_SECONDS:-1}
CALL_HOLD_SECONDS=0.2                      # the pause between ACK and BYE in bench/sipp/uac-call.xml
REG_SIPP_PROCS=${REG_SIPP_PROCS:-2}         # SIPp processes sending REGISTERs in parallel (results are added): one SIPp tops out below Kamailio
CALL_SIPP_PROCS=${CALL_SIPP_PROCS:-1}       # SIPp UAC+UAS pairs for calls
IDLE_WAIT_SECONDS=${IDLE_WAIT_SECONDS:-60}  # before each step, wait up to this long for other processes to leave the CPU idle
KAMAILIO_CHILDREN=${KAMAILIO_CHILDREN:-4}   # UDP worker processes (-n): 4 did better than 2 for calls on 2 cores (same for registrations)
KAMAILIO_SHM=${KAMAILIO_SHM:-1024}          # shared memory, MB (-m) of the reference Kamailio (the edge runs with its systemd drop-in's flags)
KAMAILIO_ARGS=${KAMAILIO_ARGS:-}            # more flags for the reference Kamailio, e.g. "-x tlsf -X tlsf" (Debian runs it with its default allocator, qm)
EDGE_SHM=${EDGE_SHM:-}                      # the edge's shared memory in MB (default: its systemd drop-in's SHM_MEMORY, 512; it caps registrations through the edge at ~5,000/s)
PBX_LOG_LEVEL=${PBX_LOG_LEVEL:-warn}
EXT_VIA=${EXT_VIA:-api}                     # api: first extension with `pbx ext add`, the rest with POST /api/extensions; cli: all with `pbx ext add` (slow: ~0.5 s each)
REG_START=${REG_START:-2000}; REG_MAX=${REG_MAX:-64000}
CALL_START=${CALL_START:-500}; CALL_MAX=${CALL_MAX:-16000}
BISECT=${BISECT:-2}                         # bisection steps after the first failing rate
SERVERS=${SERVERS:-pbx kamailio}            # also: edge1, edge2 (the Kamailio edge of contrib/kamailio with one or two pbx nodes on PostgreSQL)
EDGE_PORT=${EDGE_PORT:-35060}               # the edge's UDP port (edge1, edge2); its nodes use PBX_SIP_PORT+1.. and PBX_API_PORT+1..
PG_PORT=${PG_PORT:-15432}                   # the PostgreSQL the edge runs start (edge1, edge2)
KEEP_TMP=${KEEP_TMP:-0}
ROUNDS=${ROUNDS:-1}                         # >1 (pbx and kamailio only): the whole comparison again, the servers taking turns, so a slow or fast spell of the host falls on both; the table shows each server's median, and each round's ratios are listed
REG_SOCKETS=${REG_SOCKETS:-1}               # >1: each registering SIPp sends from this many UDP sockets (-t un -max_socket), as phones each have their own (bench/sipp/register-phones.xml)
PBX_NODE_ARGS=${PBX_NODE_ARGS:-}             # more node flags for the pbx, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" (then bench/cpu-profile.mjs)

die() { echo "bench/sip.sh: $*" >&2; exit 1; }

# ---- prerequisites ------------------------------------------------------------
command -v sipp >/dev/null || die "sipp is not installed. Install it with:  apt-get install -y sip-tester"
command -v kamailio >/dev/null || die "kamailio is not installed. Install it with:  apt-get update && apt-get install -y kamailio"
command -v node >/dev/null || die "node is not installed (Node.js 20 is needed to run the pbx)"
command -v ps >/dev/null || die "ps (procps) is needed to find Kamailio's processes"
[ -f "$ROOT/dist/cli/main.js" ] || die "the pbx is not built: run  npm run build  (in $ROOT) first"
[ "$REG_SIPP_PROCS" -ge 1 ] && [ "$CALL_SIPP_PROCS" -ge 1 ] || die "REG_SIPP_PROCS and CALL_SIPP_PROCS must be at least 1"
[ "$CALLEES" -ge "$CALL_SIPP_PROCS" ] || die "CALLEES must be at least CALL_SIPP_PROCS"

CLK_TCK=$(getconf CLK_TCK)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pbx-bench.XXXXXX")
PIDS_TO_STOP=()
# Work inside the temporary folder: SIPp writes files of its own naming (e.g. its
# error log rotated by -ringbuffer_size) into the current directory.
cd "$TMP"

cleanup() {
  local rc=$?
  for pid in "${PIDS_TO_STOP[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null || true; fi
  done
  for pid in "${PIDS_TO_STOP[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "${PG_CTL[*]:-}" ]; then "${PG_CTL[@]}" -m immediate -w stop > /dev/null 2>&1 || true; fi
  if [ "$KEEP_TMP" = 1 ] || [ $rc -ne 0 ]; then
    echo "(logs and files kept in $TMP)" >&2
  else
    rm -rf "$TMP"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_pid() { # stop one process we started and wait for it
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local keep=()
  for p in "${PIDS_TO_STOP[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
  PIDS_TO_STOP=("${keep[@]}")
}

# CPU ticks (user+system) used so far by these processes.
ticks() {
  [ $# -gt 0 ] || { echo 0; return; }
  # One reader for all of them: a fork per process, twice a second while waiting for
  # idle, was itself 30-50 % of a CPU with an edge run's ~30 processes (counted as "other").
  (cd /proc && cat "${@/%//stat}" 2>/dev/null) | awk '{ sub(/^.*\) /, ""); s += $12 + $13 } END { print s + 0 }'
}
# Busy ticks of the whole machine (all CPUs).
machine_busy() { awk '/^cpu /{ print $2+$3+$4+$7+$8+$9 }' /proc/stat; }

port_busy() { # port → 0 when something listens on UDP 127.0.0.1:port or *:port
  if command -v ss >/dev/null; then ss -Hlun "sport = :$1" 2>/dev/null | grep -q . ; else return 1; fi
}

wait_port_free() { # port name-of-setting
  for _ in $(seq 1 50); do port_busy "$1" || return 0; sleep 0.1; done
  die "UDP port $1 is in use; set $2"
}

pw() { # the known strong password of an extension: no digits of the number, 19 characters
  echo "Kq9-mZt7-$(echo "$1" | tr 0-9 a-j)-rWvX"
}

# ---- users and SIPp injection files ----------------------------------------------
# users.csv: number;password — the same for both servers.
awk -v u="$USERS" -v c="$CALLEES" 'function pw(n,  s){ s=n; gsub(/0/,"a",s); gsub(/1/,"b",s); gsub(/2/,"c",s); gsub(/3/,"d",s); gsub(/4/,"e",s); gsub(/5/,"f",s); gsub(/6/,"g",s); gsub(/7/,"h",s); gsub(/8/,"i",s); gsub(/9/,"j",s); return "Kq9-mZt7-" s "-rWvX" }
  BEGIN { for (i = 0; i < u; i++) print (10000 + i) ";" pw(10000 + i); for (i = 0; i < c; i++) print (20000 + i) ";" pw(20000 + i) }' > "$TMP/users.csv"
[ "$(sed -n 1p "$TMP/users.csv")" = "10000;$(pw 10000)" ] || die "password generation mismatch"

# Injection files for N SIPp processes: process i gets every N-th row.
make_injection_files() { # N
  local n=$1 i
  for i in $(seq 0 $((n - 1))); do
    # registrations: users 10000.. (each SIPp call registers the next user)
    { echo SEQUENTIAL; awk -F';' -v n="$n" -v k="$i" '$1 < 20000 && (NR - 1) % n == k { print $1 ";[authentication username=" $1 " password=" $2 "];" (30000 + NR) }' "$TMP/users.csv"; } > "$TMP/reg-n$n-$i.csv"
    # callees registered from UAS i's port: callee 20000+j belongs to UAS j % N
    { echo SEQUENTIAL; awk -F';' -v n="$n" -v k="$i" '$1 >= 20000 && ($1 - 20000) % n == k { print $1 ";[authentication username=" $1 " password=" $2 "]" }' "$TMP/users.csv"; } > "$TMP/callees-n$n-$i.csv"
    # calls: caller 10000+j (never registered) calls callee 20000 + j % CALLEES
    { echo SEQUENTIAL; awk -F';' -v n="$n" -v k="$i" -v c="$CALLEES" '$1 < 20000 && (NR - 1) % n == k { print $1 ";[authentication username=" $1 " password=" $2 "];" (20000 + (NR - 1) % c) }' "$TMP/users.csv"; } > "$TMP/calls-n$n-$i.csv"
  done
}
make_injection_files "$REG_SIPP_PROCS"
make_injection_files "$CALL_SIPP_PROCS"

# ---- SIPp ------------------------------------------------------------------------
# -ringbuffer_*: an error log over 10 MB is rotated (into the current directory, $TMP) and only one old file kept.
SIPP_COMMON=(-i 127.0.0.1 -nostdin -buff_size 4194304 -ringbuffer_size 10000000 -ringbuffer_files 1)

# Registers the callees of UAS i from UAS i's own port (so the binding's source is the UAS).
register_callees() { # server_port
  local i n rc
  for i in $(seq 0 $((SIPP_PROCS - 1))); do
    n=$(($(wc -l < "$TMP/callees-n$SIPP_PROCS-$i.csv") - 1))
    rc=0
    sipp -sf "$BENCH/sipp/register.xml" -inf "$TMP/callees-n$SIPP_PROCS-$i.csv" -p $((SIPP_PORT_BASE + 10 * i + 2)) -r 100 -m "$n" \
      "${SIPP_COMMON[@]}" -timeout 20s -recv_timeout 5000 -trace_err -error_file "$TMP/$LABEL-callees-$i.err" \
      "127.0.0.1:$1" > "$TMP/$LABEL-callees-$i.out" 2>&1 || rc=$?
    [ $rc -eq 0 ] || die "registering the callees with $LABEL failed (sipp exit $rc); see $TMP/$LABEL-callees-$i.out"
  done
}

UAS_PIDS=()
start_uas() {
  local i pid
  UAS_PIDS=()
  for i in $(seq 0 $((SIPP_PROCS - 1))); do
    sipp -sf "$BENCH/sipp/uas-answer.xml" -p $((SIPP_PORT_BASE + 10 * i + 2)) -m 100000000 \
      "${SIPP_COMMON[@]}" -timeout 900s -trace_err -error_file "$TMP/$LABEL-uas-$i.err" > "$TMP/$LABEL-uas-$i.out" 2>&1 &
    pid=$!
    PIDS_TO_STOP+=("$pid"); UAS_PIDS+=("$pid")
  done
  sleep 0.5
  for pid in "${UAS_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || die "the SIPp UAS did not start; see $TMP/$LABEL-uas-*.out"; done
}
stop_uas() { local pid; for pid in "${UAS_PIDS[@]}"; do stop_pid "$pid"; done; UAS_PIDS=(); }

# Most frequent failure reasons in SIPp error files.
failure_reasons() {
  cat "$@" 2>/dev/null | grep -ao "receive timeout on message [^:]*:[0-9]*\|while expecting '[0-9A-Z]*' (index [0-9]*), received '[^']\{0,40\}\|while pausing (index [0-9]*), received '[^']\{0,30\}\|Unable to [^,]*\|Dead call [^ ]* (aborted at index [0-9]*), received '[^']\{0,30\}" \
    | sed 's/Dead call [^ ]* /dead call /' | sort | uniq -c | sort -rn | head -4 | sed 's/^ */      /'
}

# Waits (up to IDLE_WAIT_SECONDS) until processes other than ours use under 15 % of
# one CPU over a second, so a step does not share the machine with, say, a build.
wait_idle() {
  local waited=0 m0 m1 o0 o1 busy
  while :; do
    m0=$(machine_busy); o0=$(ticks $(server_pids) "${UAS_PIDS[@]}")
    sleep 1
    m1=$(machine_busy); o1=$(ticks $(server_pids) "${UAS_PIDS[@]}")
    busy=$(( 100 * ((m1 - m0) - (o1 - o0)) / CLK_TCK ))
    if [ "$busy" -lt 15 ]; then
      [ "$waited" -gt 0 ] && echo " idle after ${waited}s"
      return 0
    fi
    if [ "$waited" -ge "$IDLE_WAIT_SECONDS" ]; then
      echo " still busy (${busy}% CPU used by other processes); going on"
      return 0
    fi
    [ "$waited" -eq 0 ] && printf '  (waiting for other processes to leave the CPU: %s%% busy)' "$busy"
    waited=$((waited + 1))
  done
}

# One step: SIPP_PROCS SIPp UACs at RATE (total) for about STEP_SECONDS.
# Sets STEP_OK STEP_TOTAL STEP_FAILPCT STEP_ACHIEVED STEP_ELAPSED STEP_RETRANS STEP_SRV_CPU STEP_SIPP_CPU STEP_OTHER_CPU
run_step() { # kind(reg|call) server_port rate
  local kind=$1 port=$2 rate=$3 i pids=() scen inf limit m r
  local per=$((rate / SIPP_PROCS))
  m=$((per * STEP_SECONDS))
  if [ "$kind" = reg ]; then scen=register.xml; limit=$(( per > 1000 ? per : 1000 )); else scen=uac-call.xml; limit=$(( per > 500 ? per : 500 )); fi
  local transport=()
  if [ "$kind" = reg ] && [ "$REG_SOCKETS" -gt 1 ]; then scen=register-phones.xml; transport=(-t un -max_socket "$REG_SOCKETS"); fi
  local srv0 uas0 mach0 t0 t1 srv1 uas1 mach1
  local stepdir="$TMP/$LABEL-$kind-$rate"
  mkdir -p "$stepdir"
  srv0=$(ticks $(server_pids)); uas0=$(ticks "${UAS_PIDS[@]}"); mach0=$(machine_busy); t0=$(date +%s.%N)
  for i in $(seq 0 $((SIPP_PROCS - 1))); do
    if [ "$kind" = reg ]; then inf="$TMP/reg-n$SIPP_PROCS-$i.csv"; else inf="$TMP/calls-n$SIPP_PROCS-$i.csv"; fi
    # The wrapper shell reports the CPU its sipp child used (cutime + cstime of itself).
    STEPDIR=$stepdir I=$i bash -c 'sipp "$@" > "$STEPDIR/sipp-$I.out" 2>&1; rc=$?; read -r -a s < /proc/$$/stat; echo $((s[15] + s[16])) > "$STEPDIR/sipp-$I.ticks"; exit $rc' _ \
      -sf "$BENCH/sipp/$scen" -inf "$inf" -p $((SIPP_PORT_BASE + 10 * i + 1)) -r "$per" -rp 1000 -m "$m" -l "$limit" "${transport[@]}" \
      "${SIPP_COMMON[@]}" -timeout $((STEP_SECONDS + 20))s -recv_timeout 3000 \
      -trace_stat -stf "$stepdir/stat-$i.csv" -trace_err -error_file "$stepdir/err-$i.log" \
      "127.0.0.1:$port" &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do wait "${pids[$i]}" || true; done
  t1=$(date +%s.%N); srv1=$(ticks $(server_pids)); uas1=$(ticks "${UAS_PIDS[@]}"); mach1=$(machine_busy)
  local ok=0 total=0 retrans=0 start="" end="" sippt=0 line
  for i in $(seq 0 $((SIPP_PROCS - 1))); do
    [ -s "$stepdir/stat-$i.csv" ] || { echo "    SIPp produced no statistics; its output:" >&2; tail -5 "$stepdir/sipp-$i.out" >&2; die "SIPp failed during $LABEL $kind at $rate/s"; }
    line=$(tail -1 "$stepdir/stat-$i.csv")
    # fields: 1 StartTime, 3 CurrentTime ("date<TAB>time<TAB>epoch"), 12 OutgoingCall(C), 16 SuccessfulCall(C), 58 Retransmissions(C)
    read -r s e o t rt < <(echo "$line" | awk -F';' '{ split($1, a, "\t"); split($3, b, "\t"); print a[3], b[3], $16, $12, $58 }')
    ok=$((ok + o)); total=$((total + t)); retrans=$((retrans + rt))
    start=$(awk -v a="$start" -v b="$s" 'BEGIN { print (a == "" || b < a) ? b : a }')
    end=$(awk -v a="$end" -v b="$e" 'BEGIN { print (a == "" || b > a) ? b : a }')
    sippt=$((sippt + $(cat "$stepdir/sipp-$i.ticks" 2>/dev/null || echo 0)))
  done
  STEP_OK=$ok; STEP_TOTAL=$total; STEP_RETRANS=$retrans
  STEP_ELAPSED=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.2f", e - s }')
  STEP_ACHIEVED=$(awk -v o="$ok" -v s="$start" -v e="$end" 'BEGIN { printf "%.0f", (e > s) ? o / (e - s) : 0 }')
  STEP_FAILPCT=$(awk -v o="$ok" -v t="$total" 'BEGIN { printf "%.2f", (t > 0) ? 100 * (t - o) / t : 100 }')
  local wall; wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
  STEP_SRV_CPU=$(awk -v d=$((srv1 - srv0)) -v w="$wall" -v h="$CLK_TCK" 'BEGIN { printf "%.0f", 100 * d / h / w }')
  STEP_SIPP_CPU=$(awk -v d=$((sippt + uas1 - uas0)) -v w="$wall" -v h="$CLK_TCK" 'BEGIN { printf "%.0f", 100 * d / h / w }')
  STEP_OTHER_CPU=$(awk -v m=$((mach1 - mach0)) -v a=$((srv1 - srv0)) -v b=$((sippt + uas1 - uas0)) -v w="$wall" -v h="$CLK_TCK" 'BEGIN { x = 100 * (m - a - b) / h / w; printf "%.0f", x < 0 ? 0 : x }')
  printf '  %-8s %-4s target %6d/s: %7d/%-7d ok, %6.2f%% failed, %5ss, achieved %6d/s, retrans %6d | CPU %%: server %3d, sipp %3d, other %3d\n' \
    "$LABEL" "$kind" "$rate" "$STEP_OK" "$STEP_TOTAL" "$STEP_FAILPCT" "$STEP_ELAPSED" "$STEP_ACHIEVED" "$STEP_RETRANS" "$STEP_SRV_CPU" "$STEP_SIPP_CPU" "$STEP_OTHER_CPU"
  if [ "$STEP_OK" -lt "$STEP_TOTAL" ]; then failure_reasons "$stepdir"/err-*.log; fi
}

# Passed: under 1 % failed, and at least 90 % of the rate a perfect server would give
# (calls last HOLD_SECONDS longer than they are created: the 200 ms pause before BYE).
step_passed() { # kind rate
  local hold=0
  [ "$1" = call ] && hold=$CALL_HOLD_SECONDS
  awk -v f="$STEP_FAILPCT" -v a="$STEP_ACHIEVED" -v r="$2" -v s="$STEP_SECONDS" -v h="$hold" 'BEGIN { ideal = r * s / (s + h); exit !(f < 1 && a >= 0.9 * ideal) }'
}

# Ramp: double from START while steps pass, then bisect BISECT times between the last
# passing and the first failing rate. Sets BEST (achieved/s), BEST_TARGET, BEST_SRV_CPU, BEST_SIPP_CPU, BEST_FAILPCT.
ramp() { # kind server_port start max
  local kind=$1 port=$2 r=$3 max=$4 good=0 bad=0 bisected=0
  BEST=0; BEST_TARGET=0; BEST_SRV_CPU=0; BEST_SIPP_CPU=0; BEST_FAILPCT=0; BEST_OTHER_CPU=0
  while :; do
    wait_idle
    run_step "$kind" "$port" "$r"
    if ! step_passed "$kind" "$r" && [ "$STEP_OTHER_CPU" -gt 20 ]; then
      echo "  (other processes used $STEP_OTHER_CPU% CPU during that step: once more)"
      sleep "$SETTLE_SECONDS"; wait_idle
      run_step "$kind" "$port" "$r"
    fi
    if step_passed "$kind" "$r"; then
      good=$r
      if [ "$STEP_ACHIEVED" -gt "$BEST" ]; then
        BEST=$STEP_ACHIEVED; BEST_TARGET=$r; BEST_SRV_CPU=$STEP_SRV_CPU; BEST_SIPP_CPU=$STEP_SIPP_CPU; BEST_FAILPCT=$STEP_FAILPCT; BEST_OTHER_CPU=$STEP_OTHER_CPU
      fi
    else
      bad=$r
    fi
    sleep "$SETTLE_SECONDS"
    if [ "$bad" -eq 0 ]; then
      [ $((r * 2)) -le "$max" ] || break
      r=$((r * 2))
    elif [ "$good" -eq 0 ]; then
      r=$((r / 2))                       # even the start rate failed: go down
      [ "$r" -ge 25 ] || break
      bad=0
      sleep "$SETTLE_SECONDS"
    else
      [ "$bisected" -lt "$BISECT" ] || break
      [ $((bad - good)) -gt $((good / 10)) ] || break
      r=$(( (good + bad) / 2 / SIPP_PROCS * SIPP_PROCS ))
      bisected=$((bisected + 1))
      [ "$r" -gt "$good" ] || break
    fi
  done
}

# ---- servers -----------------------------------------------------------------------
SERVER_PID=""
CLUSTER_PIDS=()  # an edge run's pbx nodes and PostgreSQL, besides the edge (SERVER_PID)
server_pids() { # the server's main process and its children (Kamailio's workers); an edge run's nodes and database too
  local parents=(${SERVER_PID:+"$SERVER_PID"} "${CLUSTER_PIDS[@]}")
  [ ${#parents[@]} -gt 0 ] || return 0
  printf '%s\n' "${parents[@]}"
  ps -o pid= --ppid "$(IFS=,; echo "${parents[*]}")" 2>/dev/null || true
}

# Starts `pbx serve` on the config in $TMP/pbx (logs appended to $TMP/pbx/pbx.log).
start_pbx_process() {
  local dir=$TMP/pbx
  wait_port_free "$PBX_SIP_PORT" PBX_SIP_PORT
  # The node flags npm start and pbx.service use (PBX_NODE_ARGS adds more, e.g. --cpu-prof).
  local size; size=$(log_size "$dir/pbx.log")
  # shellcheck disable=SC2086
  node --max-semi-space-size=64 --v8-pool-size=2 --test-udp-no-try-send $PBX_NODE_ARGS "$ROOT/bin/pbx.js" serve --config "$dir/config.yml" >> "$dir/pbx.log" 2>&1 &
  SERVER_PID=$!
  PIDS_TO_STOP+=("$SERVER_PID")
  pbx_ready "$SERVER_PID" "$dir/pbx.log" "$PBX_API_PORT" "$size"
}

log_size() { stat -c %s "$1" 2>/dev/null || echo 0; }

pbx_ready() { # pid log api_port log-size-before-start: waits until that pbx logs "API port:" (info level) or answers /health (any level)
  for _ in $(seq 1 200); do
    kill -0 "$1" 2>/dev/null || { cat "$2" >&2; die "pbx serve exited ($2)"; }
    # Only what this start wrote: a restart appends to the same log.
    if tail -c +$(($4 + 1)) "$2" | grep -q "API port:" || node -e "fetch('http://127.0.0.1:$3/health').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  cat "$2" >&2
  die "pbx did not become ready ($2)"
}

# Writes the pbx config, creates the extensions and starts the server.
setup_pbx() {
  local dir=$TMP/pbx cfg n
  mkdir -p "$dir"
  cfg=$dir/config.yml
  ! port_busy "$PBX_SIP_PORT" || die "UDP port $PBX_SIP_PORT is in use; set PBX_SIP_PORT"
  cat > "$cfg" <<EOF
# Written by bench/sip.sh
server:
  name: bench-pbx
  external_ip: 127.0.0.1
  sip_port: $PBX_SIP_PORT
  sip_host: 127.0.0.1
api:
  host: 127.0.0.1
  port: $PBX_API_PORT
database:
  path: data/pbx.db
sip:
  min_expires: 60
logging:
  level: $PBX_LOG_LEVEL
EOF
  local pbx=(node "$ROOT/bin/pbx.js")
  echo "pbx: creating $((USERS + CALLEES)) extensions (MD5 digest, known passwords) ..."
  if [ "$EXT_VIA" = cli ]; then
    # Every extension with `pbx ext add` (two at a time).
    # shellcheck disable=SC2016
    tr ';' ' ' < "$TMP/users.csv" | xargs -P 2 -n 2 sh -c 'node "$0" ext add "$2" --password "$3" --digest-algorithms MD5 --config "$1" > /dev/null' "$ROOT/bin/pbx.js" "$cfg" \
      || die "pbx ext add failed"
  else
    # The first extension with the CLI, as an administrator would; the others through the API below.
    n=$(sed -n 1p "$TMP/users.csv")
    "${pbx[@]}" ext add "${n%%;*}" --password "${n#*;}" --digest-algorithms MD5 --config "$cfg" > "$dir/ext-add.out" 2>&1 || { cat "$dir/ext-add.out" >&2; die "pbx ext add failed"; }
  fi
  TOKEN=$("${pbx[@]}" token create --name bench --config "$cfg" 2>/dev/null | tail -1)
  [ -n "$TOKEN" ] || die "pbx token create failed"

  start_pbx_process
  # The other extensions through the REST API (the same store; `pbx ext add` spawns a process per extension).
  [ "$EXT_VIA" = cli ] && return 0
  create_extensions "$PBX_API_PORT"
}

# Every extension of users.csv but the first, through the REST API on port $1.
create_extensions() {
  TOKEN=$TOKEN node --input-type=module -e '
    import { readFileSync } from "node:fs";
    const rows = readFileSync(process.argv[1], "utf8").trim().split("\n").slice(1).map((l) => l.split(";"));
    const base = "http://127.0.0.1:" + process.argv[2];
    let next = 0;
    async function worker() {
      while (next < rows.length) {
        const [number, password] = rows[next++];
        const r = await fetch(base + "/api/extensions", {
          method: "POST",
          headers: { authorization: "Bearer " + process.env.TOKEN, "content-type": "application/json" },
          body: JSON.stringify({ number, password, digest_algorithms: ["MD5"] }),
        });
        if (r.status !== 201) { console.error("POST /api/extensions", number, r.status, await r.text()); process.exit(1); }
      }
    }
    await Promise.all(Array.from({ length: 4 }, worker));
  ' "$TMP/users.csv" "$1" || die "creating extensions through the API failed"
}

# Writes the Kamailio files (same users and passwords) and starts it.
setup_kamailio() {
  local dir=$TMP/kamailio
  mkdir -p "$dir/run"
  ! port_busy "$KAM_PORT" || die "UDP port $KAM_PORT is in use; set KAM_PORT"
  cp "$BENCH/kamailio/kamailio.cfg" "$dir/kamailio.cfg"
  # The same users and passwords, loaded into htable passwd at start-up.
  { echo 'event_route[htable:mod-init] {'; awk -F';' '{ printf "\t$sht(passwd=>%s) = \"%s\";\n", $1, $2 }' "$TMP/users.csv"; echo '}'; } > "$dir/passwords.cfg"
  # shellcheck disable=SC2206
  local args=(-f "$dir/kamailio.cfg" -l "udp:127.0.0.1:$KAM_PORT" -n "$KAMAILIO_CHILDREN" -m "$KAMAILIO_SHM" $KAMAILIO_ARGS -Y "$dir/run" -P "$dir/kamailio.pid" -w "$dir")
  (cd "$dir" && kamailio -c "${args[@]}" > "$dir/check.out" 2>&1) || { cat "$dir/check.out" >&2; die "kamailio -c rejected bench/kamailio/kamailio.cfg"; }
  KAM_ARGS=("${args[@]}")
  start_kamailio_process
}

start_kamailio_process() {
  local dir=$TMP/kamailio
  wait_port_free "$KAM_PORT" KAM_PORT
  (cd "$dir" && exec kamailio "${KAM_ARGS[@]}" -DD -E >> "$dir/kamailio.log" 2>&1) &
  kamailio_started $! "$dir/kamailio.log"
  sleep 1
}

kamailio_started() { # pid log: the server's process, once it has forked its UDP workers
  SERVER_PID=$1
  PIDS_TO_STOP+=("$SERVER_PID")
  for _ in $(seq 1 100); do
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$2" >&2; die "kamailio exited"; }
    [ "$(ps -o pid= --ppid "$SERVER_PID" | wc -l)" -ge "$KAMAILIO_CHILDREN" ] && break
    sleep 0.1
  done
}

# ---- the edge: Kamailio (contrib/kamailio/kamailio.cfg) in front of pbx nodes on PostgreSQL
PG_CTL=()
PG_PID=""
# Starts a PostgreSQL of this run's own (once), on 127.0.0.1:$PG_PORT, trusting local logins.
setup_postgres() {
  [ -n "$PG_PID" ] && return 0
  local bin dir=$TMP/pg as=()
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  { [ -n "$bin" ] && [ -x "$bin/initdb" ]; } || die "PostgreSQL is not installed (apt-get install -y postgresql): the edge runs need it"
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then chmod 755 "$TMP"; chown postgres "$dir"; as=(runuser -u postgres --); fi
  "${as[@]}" "$bin/initdb" -D "$dir/data" -U postgres -E UTF8 --locale=C --auth=trust --no-sync > "$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  PG_CTL=("${as[@]}" "$bin/pg_ctl" -D "$dir/data")
  "${PG_CTL[@]}" -l "$dir/server.log" -w -t 30 -o "-p $PG_PORT -c listen_addresses='127.0.0.1' -c unix_socket_directories='$dir' -c fsync=off -c synchronous_commit=off -c max_connections=100" start > /dev/null \
    || { cat "$dir/server.log" >&2; die "PostgreSQL did not start on port $PG_PORT; set PG_PORT"; }
  PG_PID=$(head -1 "$dir/data/postmaster.pid")
  PG_CREATEDB=("${as[@]}" "$bin/createdb" -h "$dir" -p "$PG_PORT" -U postgres)
}

# pbx nodes 1..$1 on one new database, extensions created through node 1, and the edge in front.
setup_edge() {
  local n=$1 i dir db="pbx_$LABEL" first last pbx=(node "$ROOT/bin/pbx.js")
  setup_postgres
  "${PG_CREATEDB[@]}" "$db" || die "createdb $db failed"
  EDGE_DIR=$TMP/$LABEL
  EDGE_NODES=$n
  for i in $(seq 1 "$n"); do
    dir=$EDGE_DIR/node$i
    mkdir -p "$dir/data"
    ! port_busy $((PBX_SIP_PORT + i)) || die "UDP port $((PBX_SIP_PORT + i)) is in use; set PBX_SIP_PORT"
    cat > "$dir/config.yml" <<EOF
# Written by bench/sip.sh: node $i of $n behind the edge
server:
  name: bench-node$i
  external_ip: 127.0.0.1
  sip_port: $((PBX_SIP_PORT + i))
  sip_host: 127.0.0.1
api:
  host: 127.0.0.1
  port: $((PBX_API_PORT + i))
database:
  type: postgresql
  url: "postgres://postgres@127.0.0.1:$PG_PORT/$db"
cluster:
  node_id: node$i
  edge_addresses: [127.0.0.1]
sip:
  min_expires: 60
voicemail:
  enabled: false
logging:
  level: $PBX_LOG_LEVEL
EOF
  done
  first=$(sed -n 1p "$TMP/users.csv")
  "${pbx[@]}" ext add "${first%%;*}" --password "${first#*;}" --digest-algorithms MD5 --config "$EDGE_DIR/node1/config.yml" > "$EDGE_DIR/ext-add.out" 2>&1 || { cat "$EDGE_DIR/ext-add.out" >&2; die "pbx ext add failed"; }
  TOKEN=$("${pbx[@]}" token create --name bench --config "$EDGE_DIR/node1/config.yml" 2>/dev/null | tail -1)
  [ -n "$TOKEN" ] || die "pbx token create failed"
  # Every node seals and opens the SIP secrets in the shared database with the same key.
  for i in $(seq 2 "$n"); do cp "$EDGE_DIR/node1/data/secret.key" "$EDGE_DIR/node$i/data/"; done
  start_edge_processes
  create_extensions $((PBX_API_PORT + 1))
  # The last node has them too (the others learn through PostgreSQL's notifications).
  last=$(tail -1 "$TMP/users.csv" | cut -d';' -f1)
  for _ in $(seq 1 300); do
    node -e "fetch('http://127.0.0.1:$((PBX_API_PORT + n))/api/extensions/$last', { headers: { authorization: 'Bearer $TOKEN' } }).then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))" 2>/dev/null && return 0
    sleep 0.2
  done
  die "node $n did not learn the extensions created through node 1"
}

# -m and the allocators from contrib/kamailio/kamailio.service.d/pbx-edge.conf, as a site runs the edge.
edge_service_flags() {
  local f=$ROOT/contrib/kamailio/kamailio.service.d/pbx-edge.conf
  echo "-m ${EDGE_SHM:-$(sed -n "s/^Environment='SHM_MEMORY=\([0-9]*\)'$/\1/p" "$f")} $(sed -n 's/^ExecStart=\/usr\/sbin\/kamailio .*-M \$PKG_MEMORY //p' "$f")"
}

start_edge_processes() {
  local i dir pid size list=$EDGE_DIR/pbx-nodes.list
  CLUSTER_PIDS=("$PG_PID")
  : > "$list"
  for i in $(seq 1 "$EDGE_NODES"); do
    dir=$EDGE_DIR/node$i
    wait_port_free $((PBX_SIP_PORT + i)) PBX_SIP_PORT
    size=$(log_size "$dir/pbx.log")
    # shellcheck disable=SC2086
    node --max-semi-space-size=64 --v8-pool-size=2 --test-udp-no-try-send $PBX_NODE_ARGS "$ROOT/bin/pbx.js" serve --config "$dir/config.yml" >> "$dir/pbx.log" 2>&1 &
    pid=$!
    PIDS_TO_STOP+=("$pid"); CLUSTER_PIDS+=("$pid")
    pbx_ready "$pid" "$dir/pbx.log" $((PBX_API_PORT + i)) "$size"
    echo "1 sip:127.0.0.1:$((PBX_SIP_PORT + i))" >> "$list"
  done
  mkdir -p "$EDGE_DIR/run"
  wait_port_free "$EDGE_PORT" EDGE_PORT
  # The edge config as shipped, with the memory flags of its systemd drop-in (shared
  # memory size, TLSF allocators); pike off (every phone of the bench is one source address).
  # shellcheck disable=SC2046
  kamailio -DD -E $(edge_service_flags) -f "$ROOT/contrib/kamailio/kamailio.cfg" -Y "$EDGE_DIR/run" -n "$KAMAILIO_CHILDREN" \
    -A "EDGE_LISTEN=udp:127.0.0.1:$EDGE_PORT" -A "DISPATCHER_LIST=\"$list\"" -A PROBE_SECONDS=1 -A PIKE_REQUESTS=1000000000 -A LOG_LEVEL=1 \
    >> "$EDGE_DIR/edge.log" 2>&1 &
  kamailio_started $! "$EDGE_DIR/edge.log"
  # The dispatcher's first OPTIONS probes mark the nodes up.
  sleep 3
}

stop_edge_nodes() {
  local p
  for p in "${CLUSTER_PIDS[@]}"; do [ "$p" = "$PG_PID" ] || stop_pid "$p"; done
  CLUSTER_PIDS=()
}

stop_server() {
  [ -n "$SERVER_PID" ] && stop_pid "$SERVER_PID"
  SERVER_PID=""
  [ ${#CLUSTER_PIDS[@]} -gt 0 ] && stop_edge_nodes
  return 0
}

pbx_log_summary() { # title log…: what the pbx logged at warn and above (or everything at info), most frequent first
  local title=$1 lines
  shift
  lines=$(cat "$@" | grep -c . || true)
  echo "  $title: $lines line(s) at logging.level $PBX_LOG_LEVEL"
  if [ "$lines" -gt 0 ]; then
    cat "$@" | sed -n 's/.*"msg":"\([^"]*\)".*/\1/p' | sed 's/[0-9]\{3,\}/N/g' | sort | uniq -c | sort -rn | head -8 | sed 's/^ */    /'
  fi
}

other_note() { # a warning when other processes competed for the CPU during the best step
  if [ "$BEST_OTHER_CPU" -gt 20 ]; then
    echo "  ! other processes used $BEST_OTHER_CPU% CPU during that step: this figure is probably low; run again on an idle machine"
    NOISY=1
  fi
}
NOISY=0

# ---- run -----------------------------------------------------------------------------
declare -A REG CALL REG_CPU CALL_CPU REG_SIPP CALL_SIPP
SIPP_VERSION=$( (sipp -v 2>&1 || true) | grep -o "SIPp v[^ ]*" | head -1 | sed "s/[.,]$//")
KAM_VERSION=$( (kamailio -v 2>&1 || true) | sed -n 's/^version: kamailio //p' | head -1 | sed 's/ *$//')
PBX_VERSION=$(node "$ROOT/bin/pbx.js" --version 2>/dev/null || echo '?')
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)

BENCH_T0=$(date +%s)
echo "SIP benchmark  $(date -u '+%Y-%m-%d %H:%M UTC')  nproc=$(nproc)  cpu=\"$CPU_MODEL\""
echo "  $SIPP_VERSION; kamailio $KAM_VERSION; pbx $PBX_VERSION on node $(node -v)"
echo "  steps of ${STEP_SECONDS}s; SIPp processes: $REG_SIPP_PROCS for registrations, $CALL_SIPP_PROCS UAC + $CALL_SIPP_PROCS UAS for calls; $USERS users, $CALLEES callees; kamailio -n $KAMAILIO_CHILDREN -m $KAMAILIO_SHM; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

if [ "$ROUNDS" -gt 1 ]; then
  for S in $SERVERS; do
    case $S in pbx | kamailio) ;; *) die "ROUNDS>1 takes SERVERS from pbx and kamailio only (not $S)" ;; esac
  done
fi
declare -A REG_ROUNDS CALL_ROUNDS
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
[ "$ROUNDS" -gt 1 ] && echo "=== round $ROUND of $ROUNDS" && echo
for S in $SERVERS; do
  LABEL=$S
  if [ "$ROUND" -gt 1 ]; then
    # The server's files (extensions, users) are there from the first round: only start it.
    case $S in
      pbx) start_pbx_process; PORT=$PBX_SIP_PORT ;;
      kamailio) start_kamailio_process; PORT=$KAM_PORT ;;
    esac
  else
    case $S in
      pbx) setup_pbx; PORT=$PBX_SIP_PORT ;;
      kamailio) setup_kamailio; PORT=$KAM_PORT ;;
      edge1) setup_edge 1; PORT=$EDGE_PORT ;;
      edge2) setup_edge 2; PORT=$EDGE_PORT ;;
      *) die "unknown server $S (SERVERS=\"pbx kamailio edge1 edge2\")" ;;
    esac
  fi
  echo "$S: registrations (REGISTER → 401 → REGISTER with MD5 digest → 200), $USERS users"
  SIPP_PROCS=$REG_SIPP_PROCS
  ramp reg "$PORT" "$REG_START" "$REG_MAX"
  REG[$S]=$BEST; REG_CPU[$S]=$BEST_SRV_CPU; REG_SIPP[$S]=$BEST_SIPP_CPU; REG_ROUNDS[$S]+="$BEST "
  echo "  → best: $BEST registrations/s (target $BEST_TARGET/s, $BEST_FAILPCT% failed, server CPU $BEST_SRV_CPU%, SIPp CPU $BEST_SIPP_CPU%, other $BEST_OTHER_CPU%)"
  other_note
  echo
  echo "$S: calls (INVITE → 407 → ACK, INVITE with digest → 100/180/200 → ACK → 200 ms → BYE → 200), $CALLEES callees answered by SIPp"
  # Calls are measured on a freshly started server: what the registration ramp left
  # behind (transactions kept 32 s after their final response, a large heap) is gone.
  stop_server
  sleep "$SETTLE_SECONDS"
  case $S in pbx) start_pbx_process ;; kamailio) start_kamailio_process ;; edge*) start_edge_processes ;; esac
  SIPP_PROCS=$CALL_SIPP_PROCS
  register_callees "$PORT"
  start_uas
  ramp call "$PORT" "$CALL_START" "$CALL_MAX"
  CALL[$S]=$BEST; CALL_CPU[$S]=$BEST_SRV_CPU; CALL_SIPP[$S]=$BEST_SIPP_CPU; CALL_ROUNDS[$S]+="$BEST "
  echo "  → best: $BEST calls/s (target $BEST_TARGET/s, $BEST_FAILPCT% failed, server CPU $BEST_SRV_CPU%, SIPp CPU $BEST_SIPP_CPU%, other $BEST_OTHER_CPU%)"
  other_note
  stop_uas
  stop_server
  if [ "$S" = pbx ]; then
    pbx_log_summary "pbx log" "$TMP/pbx/pbx.log"
  elif [ "$S" != kamailio ]; then
    pbx_log_summary "pbx nodes' logs" "$EDGE_DIR"/node*/pbx.log
  else
    lines=$(grep -c "ERROR\|WARN\|CRITICAL" "$TMP/kamailio/kamailio.log" || true)
    echo "  kamailio log: $lines error/warning line(s)"
    if [ "$lines" -gt 0 ]; then
      grep "ERROR\|WARN\|CRITICAL" "$TMP/kamailio/kamailio.log" | sed 's/^ *[0-9]*([0-9]*) //' | sort | uniq -c | sort -rn | head -5 | sed 's/^ */    /'
    fi
  fi
  echo
done
done

ratio() { awk -v a="${1:-}" -v b="${2:-0}" 'BEGIN { if (b > 0 && a != "") printf "%.2f", a / b; else print "-" }'; }
# A side-by-side table of servers $1 and $2 (keys of REG, CALL …), headed $3 and $4, ratio $1/$2 named $5.
table() {
  local a=$1 b=$2
  printf '%-40s | %10s | %10s | %s\n' "metric" "$3" "$4" "$5"
  printf '%-40s-+-%10s-+-%10s-+-%s\n' "----------------------------------------" "----------" "----------" "--------------------"
  printf '%-40s | %10s | %10s | %s\n' "registrations/s (digest auth)" "${REG[$a]:--}" "${REG[$b]:--}" "$(ratio "${REG[$a]:-}" "${REG[$b]:-}")"
  printf '%-40s | %10s | %10s | %s\n' "calls/s (407 + INVITE/200/ACK/BYE)" "${CALL[$a]:--}" "${CALL[$b]:--}" "$(ratio "${CALL[$a]:-}" "${CALL[$b]:-}")"
  printf '%-40s | %10s | %10s |\n' "  server CPU % at best reg rate" "${REG_CPU[$a]:--}" "${REG_CPU[$b]:--}"
  printf '%-40s | %10s | %10s |\n' "  server CPU % at best call rate" "${CALL_CPU[$a]:--}" "${CALL_CPU[$b]:--}"
  printf '%-40s | %10s | %10s |\n' "  SIPp CPU % at best reg rate" "${REG_SIPP[$a]:--}" "${REG_SIPP[$b]:--}"
  printf '%-40s | %10s | %10s |\n' "  SIPp CPU % at best call rate (UAC+UAS)" "${CALL_SIPP[$a]:--}" "${CALL_SIPP[$b]:--}"
}
# The middle value of the rounds' best rates (the lower middle of an even count).
median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
if [ "$ROUNDS" -gt 1 ]; then
  for S in $SERVERS; do
    REG[$S]=$(median "${REG_ROUNDS[$S]}")
    CALL[$S]=$(median "${CALL_ROUNDS[$S]}")
  done
  echo "Each round (best rates; ratio pbx/kamailio):"
  read -r -a pr <<<"${REG_ROUNDS[pbx]:-}"; read -r -a kr <<<"${REG_ROUNDS[kamailio]:-}"
  read -r -a pc <<<"${CALL_ROUNDS[pbx]:-}"; read -r -a kc <<<"${CALL_ROUNDS[kamailio]:-}"
  for ((i = 0; i < ROUNDS; i++)); do
    echo "  round $((i + 1)): registrations ${pr[i]:--} / ${kr[i]:--} = $(ratio "${pr[i]:-}" "${kr[i]:-}"); calls ${pc[i]:--} / ${kc[i]:--} = $(ratio "${pc[i]:-}" "${kc[i]:-}")"
  done
  echo
  echo "Results over $ROUNDS rounds (each server's median best rate; the CPU figures are the last round's)"
else
  echo "Results (best rate with < 1 % failed and ≥ 90 % of the target; $(nproc) cores shared by the server and SIPp)"
fi
table pbx kamailio pbx kamailio "ratio (pbx/kamailio)"
echo "$SIPP_VERSION ($REG_SIPP_PROCS processes for registrations, $CALL_SIPP_PROCS UAC + $CALL_SIPP_PROCS UAS for calls) | kamailio $KAM_VERSION (-n $KAMAILIO_CHILDREN, -m $KAMAILIO_SHM) | pbx $PBX_VERSION, node $(node -v) | nproc $(nproc) | $CPU_MODEL"
if [ -n "${REG[edge1]:-}${REG[edge2]:-}" ]; then
  echo
  echo "Behind the edge (contrib/kamailio, pbx nodes on one PostgreSQL; server CPU counts the edge, the nodes and PostgreSQL)"
  table edge2 edge1 "two nodes" "one node" "ratio (two/one)"
fi
if [ "$NOISY" = 1 ]; then echo "! some best steps shared the CPU with other processes (see \"other\" above); the figures are not clean"; fi
echo "(benchmark took $(( $(date +%s) - BENCH_T0 )) s)"
