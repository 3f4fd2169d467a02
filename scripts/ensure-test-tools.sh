#!/usr/bin/env bash
# The end-to-end tests talk to real SIP peers: SIPp (Debian package sip-tester) and
# baresip, a STUN server (coturn), a media relay (rtpengine), the Kamailio edge, and drive the web admin in Debian's Chromium (through playwright-core; no
# browser is ever downloaded). Installs them when missing, so `npm test` works on a
# fresh Debian machine.
set -euo pipefail
need=()
command -v sipp >/dev/null 2>&1 || need+=(sip-tester)
command -v baresip >/dev/null 2>&1 || need+=(baresip-core)
command -v stdbuf >/dev/null 2>&1 || need+=(coreutils)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# curl fetches phone files over tftp:// in test/e2e/tftp.test.ts.
command -v curl >/dev/null 2>&1 || need+=(curl)
# ip (network namespaces: ban and NAT tests act from another host) and ss (listen queues).
{ command -v ip >/dev/null 2>&1 && command -v ss >/dev/null 2>&1; } || need+=(iproute2)
[ -x /usr/bin/chromium ] || need+=(chromium)
# A STUN server for server.external_ip: auto (test/e2e/public-address.test.ts).
command -v turnserver >/dev/null 2>&1 || need+=(coturn)
# A media relay for media.engine: rtpengine (test/e2e/trunk-calls-rtpengine.test.ts).
command -v rtpengine >/dev/null 2>&1 || need+=(rtpengine-daemon)
# The edge proxy in front of several pbx nodes (test/e2e/cluster.test.ts runs contrib/kamailio/kamailio.cfg).
command -v kamailio >/dev/null 2>&1 || need+=(kamailio)
# nginx in front of the nodes' HTTP (test/e2e/cluster.test.ts runs contrib/nginx/pbx.conf).
command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
# PostgreSQL server binaries: test/helpers/postgres.ts starts a throwaway cluster with them.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
[ ${#need[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "The tests need: ${need[*]} (SIPp, baresip, Chromium at /usr/bin/chromium). Install them with your package manager." >&2
  exit 1
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "Installing test tools: ${need[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
