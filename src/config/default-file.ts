// The commented config.yml that `pbx serve` writes when none exists. Every key is
// shown with its default so the file doubles as the reference an admin edits.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { isIPv4 } from 'node:net';
import { hostAddresses } from '../util/net.js';

export const DEFAULT_CONFIG_TEXT = `# pbx configuration. Full reference: docs/CONFIG.md
# Check a change without starting the server: pbx config check ${'<file>'}

server:
  name: pbx
  # Address phones use to reach this server (SIP and provisioning URLs are built from it).
  external_ip: 127.0.0.1
  sip_port: 5060
  # Address the SIP listeners bind ('::' for IPv6 and IPv4).
  sip_host: 0.0.0.0
  # SIP over TCP on sip_port as well as UDP.
  sip_tcp: true
  # SIP over TLS and WebSocket (browser phones); 0 = off. TLS uses api.ssl's certificate.
  sip_tls_port: 0
  sip_ws_port: 0
  # Transport written into phone files: udp, tcp or tls.
  sip_transport: udp

api:
  # REST API, admin UI and phone provisioning listen here.
  host: 0.0.0.0
  port: 8080
  ssl:
    enabled: false
    cert_file: ""
    key_file: ""

provisioning:
  enabled: true
  # Placeholders: {{SERVER_IP}} = server.external_ip, {{PORT}} = api.port,
  # {mac} or $mac = the phone's MAC in the form its vendor uses.
  url_format: "http://{{SERVER_IP}}:{{PORT}}/provision/{mac}.cfg"
  # Folder whose <vendor>/<model>/<file>.liquid or <vendor>/<file>.liquid override built-in templates.
  custom_templates_dir: ""
  # How often phones re-check their file (minutes).
  resync_interval_minutes: 1440
  # Provisioning request log rows kept in the database (oldest are pruned).
  request_log_max_entries: 50000
  # TFTP for phones that DHCP option 66 points at a bare address (69 is the standard port
  # and needs CAP_NET_BIND_SERVICE); 0 = off. TFTP carries no credential: per-device files
  # are served over it only within a device's first-fetch window. tftp_host "" = api.host.
  tftp_port: 0
  tftp_host: ""
  site:
    timezone: UTC
    ntp_server: pool.ntp.org
    language: English
    # Preferred order; any of PCMU, PCMA, G722, G729, opus.
    codecs: [G722, PCMU, PCMA]
    # rfc2833, inband or info
    dtmf_mode: rfc2833
  # Networks allowed to fetch phone files, e.g. [192.168.10.0/24]; empty: any address.
  allow_networks: []
  # Per-device files hold SIP passwords. Each device gets a provisioning credential
  # (generated when it is added) that its own file sets on the phone; later fetches of
  # that file need it (HTTP digest; basic too over HTTPS). mode: none turns this off.
  auth:
    mode: digest
    realm: pbx-provisioning
    nonce_ttl_seconds: 60
    # A phone just added has no credential yet: it may fetch its file without one for
    # this many minutes (0 = never), from these networks, until it first authenticates.
    first_fetch_minutes: 30
    first_fetch_networks: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 127.0.0.0/8, "::1/128", "fc00::/7", "fe80::/10"]
    # Remote phones: a secret (16+ letters, digits, - or _) they carry in their provisioning URL,
    # http://<server>:<port>/provision/<url_key>/, lets their first fetch come from any network.
    url_key: ""
  # Scanners walk MACs and guess credentials: an address with more misses (different
  # unknown MACs, failed authentications) than this within the window is refused for
  # ban_seconds. List NATs with many new phones under allow.
  guard:
    max_misses: 10
    window_seconds: 60
    ban_seconds: 3600
    allow: []
  # Phones known before they first ask, e.g.
  # devices:
  #   - { mac: "00:15:65:12:34:56", extension: "1001", vendor: yealink, model: T46S }
  devices: []

database:
  # sqlite (embedded, default) or postgresql (set url: postgres://user:pass@host/db)
  type: sqlite
  path: data/pbx.db
  url: ""

sip:
  # Digest authentication realm.
  realm: pbx
  # Offered in this order; SHA-256 first (RFC 8760), MD5 for phones that lack it.
  digest_algorithms: [SHA-256, MD5]
  nonce_ttl_seconds: 300
  # Registration intervals phones may ask for (seconds).
  min_expires: 60
  max_expires: 3600
  default_expires: 3600
  max_contacts_per_aor: 10
  # Ring time before an unanswered call ends.
  no_answer_seconds: 60
  # OPTIONS pings to UDP phones to keep NAT bindings open (0 = off).
  keepalive_seconds: 0
  # Floods, password guessing and scanners get the source banned (this host never is).
  guard:
    # More than max_requests in window_seconds bans the source for ban_seconds.
    max_requests: 16
    window_seconds: 2
    ban_seconds: 300
    # max_auth_failures failed logins from one address within auth_window_seconds ban it
    # for auth_ban_seconds; after max_extension_auth_failures against one extension from
    # anywhere, only the addresses its phones are registered from may log in as it.
    max_auth_failures: 10
    auth_window_seconds: 3600
    auth_ban_seconds: 3600
    max_extension_auth_failures: 20
    # Scanner User-Agents over UDP are dropped; this many in window_seconds ban the source.
    scanner_packets: 3
    allow: []

media:
  # Audio (RTP) for calls the pbx answers itself (voicemail and other services).
  # Bind address, and the UDP port range: open it in the firewall.
  address: 0.0.0.0
  rtp_port_min: 10000
  rtp_port_max: 20000
  # Media threads: 0 = one per core (up to 4). Read at start.
  threads: 0

security:
  # Key that encrypts SIP secrets in the database (created on first start, mode 0600).
  # Back it up separately from the database.
  key_file: data/secret.key
  # One line per ban and per fetch of a file with secrets (for fail2ban, see contrib/).
  log_file: data/security.log

logging:
  # fatal, error, warn, info, debug, trace
  level: info
`;

/**
 * Writes the default config to `file` unless it exists; returns true when it wrote one.
 * Phones need an address they can reach: the host's LAN address when it has one.
 */
export function writeDefaultConfig(file: string, address: string | null = lanAddress() ?? null): boolean {
  if (existsSync(file)) return false;
  mkdirSync(dirname(file), { recursive: true });
  const text = address
    ? DEFAULT_CONFIG_TEXT.replace('\n  external_ip: 127.0.0.1\n', `\n  # Detected when this file was written; change it if phones reach this host elsewhere.\n  external_ip: ${address}\n`)
    : DEFAULT_CONFIG_TEXT;
  writeFileSync(file, text, { flag: 'wx', mode: 0o640 });
  return true;
}

/** The first non-loopback, non-link-local IPv4 address of this host. */
export function lanAddress(): string | undefined {
  return hostAddresses(true).find((a) => isIPv4(a) && !a.startsWith('169.254.'));
}
