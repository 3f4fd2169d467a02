// The shape of config.yml. One TypeBox schema gives validation, defaults and the
// TypeScript type, so the three can never disagree.
import Type, { type Static } from 'typebox';

const Port = (fallback: number) => Type.Integer({ minimum: 1, maximum: 65535, default: fallback });
const strict = { additionalProperties: false } as const;
/** Where an inbound call goes: an extension, a mailbox, or an announcement (a prompt's name). */
const DESTINATION = '^(extension|voicemail):[0-9A-Za-z*#+._-]{1,32}$|^announcement:[A-Za-z0-9_-]{1,64}$';

export const DeviceEntrySchema = Type.Object(
  {
    mac: Type.String({ minLength: 1 }),
    extension: Type.String({ pattern: '^[0-9]{2,10}$' }),
    vendor: Type.String({ minLength: 1 }),
    model: Type.String({ minLength: 1 }),
    listener: Type.Optional(Type.Union([Type.Literal('default'), Type.Literal('http'), Type.Literal('https')])),
  },
  strict,
);

export const SiteSchema = Type.Object(
  {
    timezone: Type.String({ default: 'UTC' }),
    ntp_server: Type.String({ default: 'pool.ntp.org' }),
    language: Type.String({ default: 'English' }),
    codecs: Type.Array(Type.Union([
      Type.Literal('PCMU'), Type.Literal('PCMA'), Type.Literal('G722'),
      Type.Literal('G729'), Type.Literal('opus'),
    ]), { minItems: 1, default: ['G722', 'PCMU', 'PCMA'] }),
    dtmf_mode: Type.Union([Type.Literal('rfc2833'), Type.Literal('inband'), Type.Literal('info')], {
      default: 'rfc2833',
    }),
  },
  { ...strict, default: {} },
);

export const ConfigSchema = Type.Object(
  {
    server: Type.Object(
      {
        name: Type.String({ default: 'pbx' }),
        // The address phones and providers reach this server at (SDP, Via, Contact, phone
        // files). auto: the public address, asked of server.stun_servers (behind a NAT
        // with a dynamic address); a change is applied live.
        external_ip: Type.String({ minLength: 1, default: '127.0.0.1' }),
        // STUN servers (host or host:port, 3478 by default) for external_ip: auto, asked in order.
        stun_servers: Type.Array(Type.String({ pattern: '^(\\[[0-9a-fA-F:.]+\\]|[^:\\s]+)(:[0-9]{1,5})?$' }), { default: ['stun.l.google.com:19302', 'stun.cloudflare.com:3478'] }),
        // How often the public address is asked again (external_ip: auto).
        stun_interval_seconds: Type.Integer({ minimum: 1, maximum: 86400, default: 300 }),
        sip_port: Port(5060),
        // Address the SIP listeners bind; '::' listens on IPv6 and IPv4.
        sip_host: Type.String({ default: '0.0.0.0' }),
        // 0 turns a listener off. TLS uses api.ssl's certificate and key.
        sip_tcp: Type.Boolean({ default: true }),
        sip_tls_port: Type.Integer({ minimum: 0, maximum: 65535, default: 0 }),
        sip_ws_port: Type.Integer({ minimum: 0, maximum: 65535, default: 0 }),
        sip_transport: Type.Union([Type.Literal('udp'), Type.Literal('tcp'), Type.Literal('tls')], {
          default: 'udp',
        }),
      },
      { ...strict, default: {} },
    ),
    api: Type.Object(
      {
        host: Type.String({ default: '0.0.0.0' }),
        port: Port(8080),
        // Reverse proxies (nginx in front of several nodes) whose X-Forwarded-For is
        // believed: logs, bans and allow_networks then see the client's address. Read at start.
        trusted_proxies: Type.Array(Type.String({ pattern: '^[0-9a-fA-F:.]+(/\\d{1,3})?$' }), { default: [] }),
        // The listening sockets' accept queue (net.core.somaxconn caps it). Read at start.
        backlog: Type.Integer({ minimum: 16, maximum: 65_535, default: 4096 }),
        // Worker processes that serve phones' file downloads beside the main process (which
        // keeps SIP, the API and every write): 0 serves everything in one process. Each takes
        // connections on the same ports; see docs/PERFORMANCE.md. Read at start.
        workers: Type.Integer({ minimum: 0, maximum: 32, default: 0 }),
        // The server this busy over the last second (its event loop's utilization, %):
        // phone files are answered 503 with Retry-After instead of queueing; 0 never (the
        // default: in a 10,000-phone storm the queue was served in 24 s, while shedding at
        // 98 % stretched it to 104 s; see docs/PERFORMANCE.md). Read at start.
        shed_busy_percent: Type.Integer({ minimum: 0, maximum: 100, default: 0 }),
        ssl: Type.Object(
          {
            enabled: Type.Boolean({ default: false }),
            cert_file: Type.String({ default: '' }),
            key_file: Type.String({ default: '' }),
          },
          { ...strict, default: {} },
        ),
      },
      { ...strict, default: {} },
    ),
    provisioning: Type.Object(
      {
        enabled: Type.Boolean({ default: true }),
        url_format: Type.String({
          minLength: 1,
          default: 'http://{{SERVER_IP}}:{{PORT}}/provision/{mac}.cfg',
        }),
        custom_templates_dir: Type.String({ default: '' }),
        // Threads that render phones' account files off the event loop (a boot storm renders
        // one per phone, ~0.5 ms of Liquid each, while SIP waits); 0 renders on the event
        // loop. HTTP worker processes (api.workers) render in their own process. Read at start.
        render_threads: Type.Integer({ minimum: 0, maximum: 8, default: 1 }),
        // Make the boot files of every phone that has fetched before in the background once the
        // server listens, and again after a change that stales them (config, template, device,
        // extension), so the boot storm after a power cut or a resync finds them made.
        prepare_files: Type.Boolean({ default: true }),
        // Files phones upload (Polycom <mac>-phone.cfg, -web.cfg, logs, directories), one folder
        // per device; each file at most upload_max_bytes.
        uploads_dir: Type.String({ minLength: 1, default: 'data/uploads' }),
        upload_max_bytes: Type.Integer({ minimum: 1024, maximum: 16_777_216, default: 1_048_576 }),
        resync_interval_minutes: Type.Integer({ minimum: 5, maximum: 10080, default: 1440 }),
        request_log_max_entries: Type.Integer({ minimum: 100, maximum: 10_000_000, default: 50_000 }),
        // Plain-HTTP port serving /provision only, for phones that cannot validate the HTTPS
        // certificate; when set, generated URLs point here (0 = off: the API listener serves).
        http_port: Type.Integer({ minimum: 0, maximum: 65535, default: 0 }),
        // TFTP (UDP) for phones DHCP option 66 points at a bare address; 0 = off. Port 69 needs
        // CAP_NET_BIND_SERVICE. Per-device files only within a device's first-fetch window.
        tftp_port: Type.Integer({ minimum: 0, maximum: 65535, default: 0 }),
        // Address the TFTP listener binds; empty = api.host ('::' for IPv6 and IPv4).
        tftp_host: Type.String({ pattern: '^[0-9a-fA-F:.]*$', default: '' }),
        // After the provisioning port or address changes, the old port keeps serving files for this long.
        legacy_grace_days: Type.Number({ minimum: 0, maximum: 365, default: 7 }),
        // Extra ports that always serve provisioning (phones configured by hand long ago).
        legacy_ports: Type.Array(Type.Integer({ minimum: 1, maximum: 65535 }), { default: [] }),
        // Tell phones to re-fetch (SIP NOTIFY) when their file changes.
        auto_resync: Type.Boolean({ default: true }),
        // Mass resync: phones per batch, and the spread of each batch in milliseconds.
        resync_batch_size: Type.Integer({ minimum: 1, maximum: 10_000, default: 50 }),
        resync_batch_spread_ms: Type.Integer({ minimum: 0, maximum: 600_000, default: 2000 }),
        site: SiteSchema,
        devices: Type.Array(DeviceEntrySchema, { default: [] }),
        // Only these addresses or CIDRs may fetch phone files (empty: any address).
        allow_networks: Type.Array(Type.String({ pattern: '^[0-9a-fA-F:.]+(/\\d{1,3})?$' }), { default: [] }),
        // Enumeration defence: an address asking for more unknown MACs than this within the
        // window is banned (a scanner walks MACs; a phone asks for its own).
        // Per-device files hold SIP passwords: a phone proves it is the phone (HTTP digest,
        // or basic over HTTPS) with the provisioning credential its own file gave it.
        auth: Type.Object(
          {
            mode: Type.Union([Type.Literal('digest'), Type.Literal('none')], { default: 'digest' }),
            realm: Type.String({ minLength: 1, maxLength: 64, pattern: '^[^"\\\\]+$', default: 'pbx-provisioning' }),
            nonce_ttl_seconds: Type.Integer({ minimum: 5, maximum: 3600, default: 60 }),
            // A device just added may fetch without its credential this many minutes (0 = never),
            // only from first_fetch_networks, and only until it first authenticates.
            first_fetch_minutes: Type.Integer({ minimum: 0, maximum: 10_080, default: 30 }),
            // A secret first path segment (/provision/<url_key>/<file>) that lets a phone do its
            // first fetch from any network (remote phones); '' = off.
            url_key: Type.String({ pattern: '^$|^[A-Za-z0-9_-]{16,128}$', default: '' }),
            first_fetch_networks: Type.Array(Type.String({ pattern: '^[0-9a-fA-F:.]+(/\\d{1,3})?$' }), {
              default: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '127.0.0.0/8', '::1/128', 'fc00::/7', 'fe80::/10'],
            }),
          },
          { ...strict, default: {} },
        ),
        guard: Type.Object(
          {
            // Misses: different unknown MACs asked for, plus failed provisioning authentications.
            max_misses: Type.Integer({ minimum: 1, maximum: 10_000, default: 10 }),
            window_seconds: Type.Integer({ minimum: 1, maximum: 86_400, default: 60 }),
            ban_seconds: Type.Integer({ minimum: 1, maximum: 31_536_000, default: 3600 }),
            // Addresses or CIDRs never banned (many new phones behind one NAT).
            allow: Type.Array(Type.String({ pattern: '^[0-9a-fA-F:.]+(/\\d{1,3})?$' }), { default: [] }),
          },
          { ...strict, default: {} },
        ),
      },
      { ...strict, default: {} },
    ),
    cluster: Type.Object(
      {
        // This node's name: several pbx nodes on one PostgreSQL database need one each
        // (each registration records the node it arrived on). One node: leave it.
        node_id: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$', default: 'pbx1' }),
        // The edge proxies in front of the nodes (addresses or CIDRs): their requests are
        // judged by the phone's address their Via records, and they are never banned.
        edge_addresses: Type.Array(Type.String({ pattern: '^[0-9a-fA-F:.]+(/\\d{1,3})?$' }), { default: [] }),
      },
      { ...strict, default: {} },
    ),
    database: Type.Object(
      {
        type: Type.Union([Type.Literal('sqlite'), Type.Literal('postgresql')], { default: 'sqlite' }),
        path: Type.String({ minLength: 1, default: 'data/pbx.db' }),
        url: Type.String({ default: '' }),
      },
      { ...strict, default: {} },
    ),
    sip: Type.Object(
      {
        // Digest realm; phones need not know it in advance.
        realm: Type.String({ minLength: 1, default: 'pbx' }),
        digest_algorithms: Type.Array(Type.Union([Type.Literal('SHA-256'), Type.Literal('MD5')]), {
          minItems: 1,
          default: ['SHA-256', 'MD5'],
        }),
        nonce_ttl_seconds: Type.Integer({ minimum: 10, maximum: 3600, default: 300 }),
        min_expires: Type.Integer({ minimum: 1, maximum: 86400, default: 60 }),
        max_expires: Type.Integer({ minimum: 60, maximum: 86400, default: 3600 }),
        default_expires: Type.Integer({ minimum: 60, maximum: 86400, default: 3600 }),
        max_contacts_per_aor: Type.Integer({ minimum: 1, maximum: 100, default: 10 }),
        // Ring time before an unanswered call ends with 480.
        no_answer_seconds: Type.Integer({ minimum: 5, maximum: 600, default: 60 }),
        // Send OPTIONS to each UDP contact this often to keep NAT bindings open (0 = off).
        keepalive_seconds: Type.Integer({ minimum: 0, maximum: 3600, default: 0 }),
        // OPTIONS to each enabled trunk's provider this often: up/down and round-trip time (0: off).
        trunk_options_seconds: Type.Integer({ minimum: 0, maximum: 3600, default: 30 }),
        // A provider that sends nothing at all (not even 100 Trying) this long after a call's
        // INVITE is taken as down: the call goes to the next target or trunk.
        trunk_timeout_seconds: Type.Integer({ minimum: 1, maximum: 32, default: 5 }),
        // Flood and scanner defence (Kamailio pike defaults): more than max_requests in
        // window_seconds, or max_auth_failures failed authentications, bans the source.
        guard: Type.Object(
          {
            max_requests: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 16 }),
            window_seconds: Type.Integer({ minimum: 1, maximum: 3600, default: 2 }),
            // Failed authentications from one source within auth_window_seconds (fail2ban's
            // maxretry/findtime) ban it for auth_ban_seconds: slow guessers are caught too.
            max_auth_failures: Type.Integer({ minimum: 1, maximum: 10_000, default: 10 }),
            auth_window_seconds: Type.Integer({ minimum: 1, maximum: 604_800, default: 3600 }),
            auth_ban_seconds: Type.Integer({ minimum: 1, maximum: 31_536_000, default: 3600 }),
            // Failures against one extension from anywhere in that window: then only the
            // addresses its phones are registered from may authenticate as it.
            max_extension_auth_failures: Type.Integer({ minimum: 1, maximum: 100_000, default: 20 }),
            // Scanner User-Agents over UDP are dropped; this many in window_seconds ban the source.
            scanner_packets: Type.Integer({ minimum: 1, maximum: 1000, default: 3 }),
            ban_seconds: Type.Integer({ minimum: 1, maximum: 31_536_000, default: 300 }),
            // Never banned (this server's own addresses never are either).
            allow: Type.Array(Type.String({ pattern: '^[0-9a-fA-F:.]+(/\\d{1,3})?$' }), { default: [] }),
          },
          { ...strict, default: {} },
        ),
      },
      { ...strict, default: {} },
    ),
    voicemail: Type.Object(
      {
        // A mailbox for every extension unless switched off for one (API, CLI, web admin).
        enabled: Type.Boolean({ default: true }),
        // Dial this for your own mailbox (PIN asked), or the other code for any mailbox.
        access_code: Type.String({ pattern: '^[*#0-9]{2,8}$', default: '*97' }),
        any_mailbox_code: Type.String({ pattern: '^[*#0-9]{2,8}$', default: '*98' }),
        // Message audio (WAV, 8 kHz 16-bit mono), one folder per mailbox.
        dir: Type.String({ minLength: 1, default: 'data/voicemail' }),
        // An admin's replacements for the built-in prompts: <name>.wav, same names.
        prompts_dir: Type.String({ default: '' }),
        max_message_seconds: Type.Integer({ minimum: 5, maximum: 3600, default: 180 }),
        // Recording stops after this long without speech.
        silence_seconds: Type.Integer({ minimum: 2, maximum: 60, default: 8 }),
        max_messages: Type.Integer({ minimum: 1, maximum: 10_000, default: 100 }),
        pin_min_length: Type.Integer({ minimum: 4, maximum: 12, default: 4 }),
        // New messages are mailed to the mailbox's address (set per mailbox) through this server.
        smtp: Type.Object(
          {
            host: Type.String({ default: '' }),
            port: Type.Integer({ minimum: 1, maximum: 65535, default: 587 }),
            // true: TLS from the first byte (port 465); false: STARTTLS when the server offers it.
            secure: Type.Boolean({ default: false }),
            user: Type.String({ default: '' }),
            // Sealed with this server's key (`pbx secret seal`), or plain (then it is readable in this file).
            password: Type.String({ default: '' }),
            from: Type.String({ default: '' }),
          },
          { ...strict, default: {} },
        ),
      },
      { ...strict, default: {} },
    ),
    // Calls to the outside world: the site's numbering plan and the outbound routes.
    dialplan: Type.Object(
      {
        // The site's country calling code and area code (E.164), and what callers dial before
        // a national number and before a country code.
        country_code: Type.String({ pattern: '^[1-9][0-9]{0,2}$', default: '1' }),
        area_code: Type.String({ pattern: '^[0-9]{0,5}$', default: '' }),
        national_prefix: Type.String({ pattern: '^[0-9]{0,3}$', default: '1' }),
        international_prefix: Type.String({ pattern: '^[0-9]{1,4}$', default: '011' }),
        // A national number dialled with no prefix has this many digits (10 in North America; 0: never dialled so).
        national_length: Type.Integer({ minimum: 0, maximum: 15, default: 10 }),
        // Always allowed, tried first, never limited, logged loudly.
        emergency_numbers: Type.Array(Type.String({ pattern: '^[0-9]{2,6}$' }), { default: ['911', '112'] }),
        // What extensions may call: internal, local, national or international (emergency numbers always).
        default_class: Type.Union([Type.Literal('internal'), Type.Literal('local'), Type.Literal('national'), Type.Literal('international')], { default: 'national' }),
        // Toll-fraud limits (403 and a security-log line beyond them; never for emergency numbers).
        max_calls_per_extension: Type.Integer({ minimum: 1, maximum: 1000, default: 4 }),
        max_international_per_hour: Type.Integer({ minimum: 0, maximum: 100000, default: 10 }),
        // Tried in order: the first route with a pattern that takes the number sends it out
        // through its trunks in turn (the next one on 408, 5xx or no answer).
        outbound_routes: Type.Array(
          Type.Object(
            {
              name: Type.String({ pattern: '^[A-Za-z0-9_-]{1,32}$' }),
              patterns: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1 }),
              trunks: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
              // The caller number toward the provider on this route (null: the trunk's from_user or the extension).
              caller_id: Type.Union([Type.String({ pattern: '^\\+?[0-9]{2,15}$' }), Type.Null()], { default: null }),
            },
            strict,
          ),
          { default: [] },
        ),
        // Calls from the trunks: the number the caller dialled (the DID) goes to a destination,
        // extension:<n>, voicemail:<n> (that mailbox) or announcement:<name> (<name>.wav in
        // voicemail.prompts_dir, or a built-in prompt such as not-in-service, played, then hang-up). A DID
        // is matched as written or in E.164 form (+15551234567 matches 5551234567).
        inbound_routes: Type.Array(
          Type.Object(
            {
              did: Type.String({ pattern: '^\\+?[0-9]{1,20}$' }),
              // Only calls from this trunk (null: any trunk).
              trunk: Type.Union([Type.String({ minLength: 1 }), Type.Null()], { default: null }),
              destination: Type.String({ pattern: DESTINATION }),
            },
            strict,
          ),
          { default: [] },
        ),
        // Where a DID no inbound route takes goes; reject: 404 to the provider.
        inbound_default: Type.String({ pattern: `${DESTINATION}|^reject$`, default: 'reject' }),
      },
      { ...strict, default: {} },
    ),
    media: Type.Object(
      {
        // Address RTP is bound to (0.0.0.0: all IPv4, ::: all); SDP names server.external_ip.
        address: Type.String({ pattern: '^[0-9a-fA-F:.]+$', default: '0.0.0.0' }),
        // UDP ports for RTP (even) and RTCP (the odd one above); open them in a firewall.
        rtp_port_min: Type.Integer({ minimum: 1024, maximum: 65534, default: 10000 }),
        rtp_port_max: Type.Integer({ minimum: 1025, maximum: 65535, default: 20000 }),
        // A call the pbx answered whose caller sends no RTP for this long (a phone that lost
        // power or network, never to send BYE) is hung up. 0: never.
        timeout_seconds: Type.Integer({ minimum: 0, maximum: 3600, default: 30 }),
        // Media threads (each with its own clock and sockets; calls are shared among them).
        // 0: one per core, up to 4. Read at start.
        threads: Type.Integer({ minimum: 0, maximum: 16, default: 0 }),
        // An anchored call (a trunk call) with RTP one way only for this long is flagged as one-way audio.
        one_way_seconds: Type.Integer({ minimum: 2, maximum: 600, default: 5 }),
        // What relays anchored calls (trunk calls): the built-in relay, or rtpengine (Debian's
        // rtpengine-daemon) driven over its ng protocol at rtpengine_ng (host:port).
        engine: Type.Union([Type.Literal('builtin'), Type.Literal('rtpengine')], { default: 'builtin' }),
        // Calls between phones: their media goes through the pbx's relay when a party is
        // behind NAT (nat), for every call (always), or the phones send RTP to each other (never).
        anchor: Type.Union([Type.Literal('never'), Type.Literal('nat'), Type.Literal('always')], { default: 'nat' }),
        rtpengine_ng: Type.String({ pattern: '^(\\[[0-9a-fA-F:.]+\\]|[^:\\s]+):[0-9]{1,5}$', default: '127.0.0.1:2223' }),
      },
      { ...strict, default: {} },
    ),
    security: Type.Object(
      {
        // AES key that seals SIP secrets in the database; keep it out of database backups.
        key_file: Type.String({ minLength: 1, default: 'data/secret.key' }),
        // One line per ban and per fetch of a file holding secrets, for fail2ban.
        log_file: Type.String({ default: 'data/security.log' }),
      },
      { ...strict, default: {} },
    ),
    logging: Type.Object(
      {
        level: Type.Union(
          ['fatal', 'error', 'warn', 'info', 'debug', 'trace'].map((l) => Type.Literal(l)),
          { default: 'info' },
        ),
      },
      { ...strict, default: {} },
    ),
  },
  strict,
);

export type PbxConfig = Static<typeof ConfigSchema>;
export type SiteSettings = Static<typeof SiteSchema>;
export type ConfiguredDevice = Static<typeof DeviceEntrySchema>;
