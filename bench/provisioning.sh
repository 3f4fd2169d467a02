#!/usr/bin/env bash
# Rendered phone files per second: pbx serving a device's account file (rendered from
# its template, cached) against nginx serving a static 1 KB file, same wrk load, same
# machine, same run. Prints both figures and the ratio. Needs: npm run build, wrk, nginx.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in wrk nginx; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y wrk nginx-light" >&2; exit 1; }
done
[ -f dist/cli/main.js ] || { echo "build first: npm run build" >&2; exit 1; }

DURATION=${DURATION:-10}
# HTTP worker processes beside the main one (api.workers; 0: one process serves everything).
WORKERS=${WORKERS:-0}
CONNECTIONS=${CONNECTIONS:-64}
PBX_PORT=18180
NGINX_PORT=18181
SIP_PORT=18190
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true; rm -rf "$work"' EXIT

cat > "$work/config.yml" <<YML
server: { external_ip: 127.0.0.1, sip_port: $SIP_PORT, sip_host: 127.0.0.1 }
api: { host: 127.0.0.1, port: $PBX_PORT, workers: $WORKERS }
database: { path: $work/pbx.db }
security: { key_file: $work/secret.key }
logging: { level: warn }
provisioning: { auth: { first_fetch_minutes: 30 } }
YML
pbx() { node bin/pbx.js "$@" --config "$work/config.yml"; }
pbx ext add 1001 --name Bench >/dev/null 2>&1
pbx device add 00:15:65:00:00:01 --extension 1001 --vendor yealink --model T46S >/dev/null 2>&1
# A second phone fetched the way provisioned phones fetch: with its credential (HTTP digest).
cred=$(pbx device add 00:15:65:00:00:02 --extension 1001 --vendor yealink --model T46S 2>&1 >/dev/null | sed -n 's/^Provisioning credential.*: \([^ ]*\) \/ \([^ ]*\)$/\1 \2/p')
[ -n "$cred" ] || { echo "bench: could not read the second phone's provisioning credential" >&2; exit 1; }
node --max-semi-space-size=64 --v8-pool-size=2 --test-udp-no-try-send ${PBX_NODE_ARGS:-} bin/pbx.js serve --config "$work/config.yml" > "$work/pbx.log" 2>&1 &   # as npm start and pbx.service run it
pbx_pid=$!
# CPU time (clock ticks) of the pbx and its HTTP workers: what a figure cost the server,
# apart from the load generator beside it on the same cores.
server_ticks() {
  local t=0 pid
  for pid in $pbx_pid $(pgrep -P "$pbx_pid" || true); do
    [ -r "/proc/$pid/stat" ] && t=$((t + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
  done
  echo "$t"
}
main_ticks() { awk '{print $14 + $15}' "/proc/$pbx_pid/stat"; }
per_op_us() { echo "$1 * 1000000 / $(getconf CLK_TCK) / ($2 * $DURATION)" | bc; }
for _ in $(seq 50); do grep -q 'API port' "$work/pbx.log" 2>/dev/null && break; sleep 0.1; done

mkdir -p "$work/www"
head -c 1024 /dev/urandom | base64 -w 76 | head -c 1024 > "$work/www/file.cfg"
cat > "$work/nginx.conf" <<NGX
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work; uwsgi_temp_path $work; scgi_temp_path $work;
  server { listen 127.0.0.1:$NGINX_PORT; root $work/www; }
}
NGX
nginx -c "$work/nginx.conf"
sleep 0.3

ua='Yealink SIP-T46S 66.86.0.15 00:15:65:00:00:01'
curl -sf -A "$ua" "http://127.0.0.1:$PBX_PORT/provision/001565000001.cfg" > "$work/sample.cfg"
echo "pbx file: $(wc -c < "$work/sample.cfg") bytes; nginx file: 1024 bytes"
# A device's file is served without its credential only inside its first-fetch window
# (wrk cannot answer a digest challenge): any non-2xx answer makes the figure void.
run() {
  local out; out=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" -H "User-Agent: $ua" "$1")
  if grep -q 'Non-2xx' <<<"$out"; then echo "bench: $1 answered non-2xx: $(grep Non-2xx <<<"$out")" >&2; exit 1; fi
  awk '/Requests\/sec/ {print $2}' <<<"$out"
}
run "http://127.0.0.1:$PBX_PORT/provision/001565000001.cfg" >/dev/null   # warm-up
t0=$(server_ticks); m0=$(main_ticks)
pbx_rps=$(run "http://127.0.0.1:$PBX_PORT/provision/001565000001.cfg")
file_us=$(per_op_us $(( $(server_ticks) - t0 )) "$pbx_rps"); file_main_us=$(per_op_us $(( $(main_ticks) - m0 )) "$pbx_rps")
nginx_rps=$(run "http://127.0.0.1:$NGINX_PORT/file.cfg")
printf '\n%-34s %12s %12s %8s\n' metric "pbx (workers=$WORKERS)" nginx ratio
printf '%-34s %12.0f %12.0f %8.2f\n' "phone file GET /s (wrk, c=$CONNECTIONS)" "$pbx_rps" "$nginx_rps" "$(echo "$pbx_rps / $nginx_rps" | bc -l)"
# Each authenticated fetch is two requests (the 401 challenge, then the answer). Close the
# first-fetch window (live config edit) so every fetch must show the credential.
sed -i 's/first_fetch_minutes: 30/first_fetch_minutes: 0/' "$work/config.yml"
challenged() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PBX_PORT/provision/001565000002.cfg")" = 401 ]; }
for _ in $(seq 50); do challenged && break; sleep 0.1; done
challenged || { echo "bench: the server did not apply first_fetch_minutes: 0" >&2; exit 1; }
# The digest client is wrk with bench/wrk-digest.lua (MD5 in LuaJIT), one connection per
# wrk thread so each challenge is answered on its own connection, as a phone does.
DIGEST_CONNECTIONS=${DIGEST_CONNECTIONS:-16}
t0=$(server_ticks); m0=$(main_ticks)
digest_out=$(DIGEST_USER=${cred% *} DIGEST_PASSWORD=${cred#* } wrk -t"$DIGEST_CONNECTIONS" -c"$DIGEST_CONNECTIONS" -d"${DURATION}s" \
  -s bench/wrk-digest.lua "http://127.0.0.1:$PBX_PORT/provision/001565000002.cfg")
auth_rps=$(node -e "
const r = JSON.parse(process.argv[1]);
if (r.other || r.fetched === 0) { console.error('bench: authenticated fetches: ' + r.fetched + ' delivered, ' + r.other + ' answered neither 200 nor 401'); process.exit(1); }
console.log((r.fetched / r.seconds).toFixed(0))" "$(grep '^{"fetched"' <<<"$digest_out")")
auth_us=$(per_op_us $(( $(server_ticks) - t0 )) "$auth_rps"); auth_main_us=$(per_op_us $(( $(main_ticks) - m0 )) "$auth_rps")
printf '%-34s %12.0f %12s %8s\n' "authenticated fetch /s (digest, c=$DIGEST_CONNECTIONS)" "$auth_rps" "-" "-"
echo "server CPU per file GET: ${file_us} µs (main process ${file_main_us}); per authenticated fetch (2 requests): ${auth_us} µs (main process ${auth_main_us})"
echo "  → what $(nproc) cores could serve with nothing else on them: $(( $(nproc) * 1000000 / file_us )) files/s, $(( $(nproc) * 1000000 / auth_us )) authenticated fetches/s"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
