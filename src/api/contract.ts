// The shapes of the API's answers, declared once: fastify serialises and documents
// (OpenAPI) each route's answer with these schemas, and the web admin takes their static
// types (web/src/contract.ts, type-only) instead of retyping them. Objects allow further
// properties, so a field added to a view is never silently dropped on the way out;
// declaring it here is what makes it part of the contract.
import Type, { type Static, type TSchema } from 'typebox';

const open = { additionalProperties: true } as const;
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

export const ExtensionView = Type.Object(
  {
    number: Type.String(),
    name: Type.String(),
    enabled: Type.Boolean(),
    voicemail_pin_set: Type.Boolean(),
    digest_algorithms: Nullable(Type.Array(Type.String())),
    outbound_class: Nullable(Type.String({ description: 'internal, local, national or international; null: dialplan.default_class' })),
    devices: Type.Array(Type.String(), { description: 'MACs of the devices that use this extension' }),
    created_at: Type.String(),
    updated_at: Type.String(),
  },
  open,
);

export const DeviceView = Type.Object(
  {
    mac_address: Type.String(),
    extension_number: Nullable(Type.String()),
    lines: Type.Array(Type.String()),
    vendor: Type.String(),
    model: Type.String(),
    label: Nullable(Type.String()),
    config_url: Type.String({ description: 'Derived from the live config, never stored' }),
    provisioning_server: Type.String(),
    listener: Type.String(),
    provisioning_username: Type.String(),
    first_fetch_window_until: Nullable(Type.String()),
    last_authenticated_at: Nullable(Type.String()),
    overrides: Type.Record(Type.String(), Type.String()),
    created_at: Type.String(),
    updated_at: Type.String(),
    last_provisioned: Nullable(Type.String()),
    last_ip: Nullable(Type.String()),
    last_user_agent: Nullable(Type.String()),
    sync_state: Type.String(),
    last_fetch_port: Nullable(Type.Number()),
    resync_sent_at: Nullable(Type.String()),
  },
  open,
);

export const RegistrationView = Type.Object(
  {
    extension: Type.String(),
    contact: Type.String(),
    source: Type.String({ description: 'address:port the registration came from' }),
    transport: Type.String(),
    user_agent: Nullable(Type.String()),
    expires: Type.Integer({ description: 'seconds left' }),
    expires_at: Type.String(),
    registered_at: Type.String(),
    node: Type.String({ description: 'the pbx node the REGISTER reached (cluster.node_id)' }),
    path: Nullable(Type.Array(Type.String(), { description: 'the Path (RFC 3327) the phone is reached through: an edge proxy' })),
  },
  open,
);

export const ActiveCallView = Type.Object(
  {
    call_id: Type.String(),
    caller: Type.String(),
    callee: Type.String(),
    state: Type.String(),
    started_at: Type.String(),
    answered_at: Nullable(Type.String()),
  },
  open,
);

export const CdrView = Type.Object(
  {
    id: Type.Number(),
    call_id: Type.String(),
    caller: Type.String(),
    callee: Type.String(),
    started_at: Type.String(),
    answered_at: Nullable(Type.String()),
    ended_at: Type.String(),
    result: Type.String(),
    status: Type.Integer(),
    hangup_side: Nullable(Type.String()),
    duration_seconds: Type.Number(),
    // RTP the pbx itself sent and received (calls it answered: voicemail); null for proxied calls.
    media_packets_sent: Nullable(Type.Integer()),
    media_packets_received: Nullable(Type.Integer()),
    media_packets_lost: Nullable(Type.Integer()),
    media_jitter_ms: Nullable(Type.Number()),
    // An anchored call (a trunk call) whose audio flowed one way only: the side that sent no RTP.
    media_one_way: Nullable(Type.String()),
    // internal, outbound or inbound; the trunk and, inbound, the number dialled (DID). Null on rows from before trunks.
    direction: Nullable(Type.String()),
    trunk: Nullable(Type.String()),
    did: Nullable(Type.String()),
  },
  open,
);

export const Finding = Type.Object({ check: Type.String(), ok: Type.Boolean(), message: Type.String(), fix: Type.Optional(Type.String()) }, open);

export const Dashboard = Type.Object(
  {
    registrations: Type.Integer(),
    registered_extensions: Type.Integer(),
    extensions: Type.Integer(),
    devices: Type.Integer(),
    devices_registered: Type.Integer(),
    active_calls: Type.Integer(),
    calls_today: Type.Integer(),
    sync: Type.Record(Type.String(), Type.Integer()),
    activity: Type.Array(Type.Object({ hour: Type.String(), delivered: Type.Integer(), failed: Type.Integer() }, open)),
    problems: Type.Array(Finding),
  },
  open,
);

/** Counter sets are open-ended (new counters appear as the server grows): declared as records of numbers where they are flat. */
const Counters = Type.Record(Type.String(), Type.Number());

export const Status = Type.Object(
  {
    version: Type.String(),
    started_at: Type.String(),
    uptime_seconds: Type.Integer(),
    config_file: Type.String(),
    database: Type.String(),
    api_port: Type.Integer(),
    sip_port: Type.Integer(),
    external_ip: Type.String(),
    provisioning_enabled: Type.Boolean(),
    counts: Type.Object({ extensions: Type.Integer(), devices: Type.Integer(), registrations: Type.Integer(), active_calls: Type.Integer() }, open),
    sip: Type.Object(
      {
        listeners: Type.Array(Type.Object({ transport: Type.String(), address: Type.String(), port: Type.Integer() }, open)),
        messages: Counters,
        transactions: Type.Object(
          {
            requestsIn: Type.Number(),
            responsesIn: Type.Number(),
            retransmissionsAbsorbed: Type.Number(),
            parseErrors: Type.Number(),
            requestsRefused: Type.Number(),
            challengeAcksAbsorbed: Type.Number(),
            serverTransactions: Type.Number(),
            clientTransactions: Type.Number(),
            active: Type.Object({ server: Type.Integer(), client: Type.Integer() }, open),
          },
          open,
        ),
        registrations: Counters,
        calls: Counters,
      },
      open,
    ),
    provisioning: Type.Object({ legacy_fetches: Type.Number(), resync: Counters }, open),
  },
  open,
);

export type ExtensionView = Static<typeof ExtensionView>;
export type DeviceView = Static<typeof DeviceView>;
export type RegistrationView = Static<typeof RegistrationView>;
export type ActiveCallView = Static<typeof ActiveCallView>;
export type CdrView = Static<typeof CdrView>;
export type Dashboard = Static<typeof Dashboard>;
export type Status = Static<typeof Status>;
export type Finding = Static<typeof Finding>;

/** Files a phone uploaded (GET /api/provisioning/devices/{mac}/uploads). */
export const UploadList = Type.Object({
  uploads: Type.Array(Type.Object({ name: Type.String(), bytes: Type.Integer(), uploaded_at: Type.String() })),
});
export type UploadList = Static<typeof UploadList>;

/** A trunk as the API shows it: its settings (never the password) and how it is doing. */
export const TrunkView = Type.Object({
  name: Type.String(),
  enabled: Type.Boolean(),
  host: Type.String(),
  port: Nullable(Type.Integer()),
  transport: Type.String(),
  outbound_proxy: Nullable(Type.String()),
  register: Type.Boolean(),
  username: Nullable(Type.String()),
  auth_username: Nullable(Type.String()),
  password_set: Type.Boolean(),
  realm: Nullable(Type.String()),
  expiry_seconds: Type.Integer(),
  contact_user: Nullable(Type.String()),
  from_user: Nullable(Type.String()),
  allowed_addresses: Type.Array(Type.String()),
  codecs: Type.Array(Type.String()),
  dtmf_mode: Type.String(),
  max_calls: Nullable(Type.Integer()),
  priority: Type.Integer(),
  caller_id_header: Type.String(),
  did_from: Type.String(),
  status: Type.Object({
    state: Type.String({ description: 'registering, registered, failed, stopped, disabled or ip-authenticated' }),
    last_error: Nullable(Type.String()),
    target: Nullable(Type.String()),
    registered_until: Nullable(Type.String()),
    failures: Type.Integer(),
    next_attempt_at: Nullable(Type.String()),
    health: Type.Object({
      up: Nullable(Type.Boolean({ description: 'the provider answered the last OPTIONS (null: not checked yet)' })),
      rtt_ms: Nullable(Type.Number()),
      checked_at: Nullable(Type.String()),
      last_error: Nullable(Type.String()),
    }),
  }),
  created_at: Type.String(),
  updated_at: Type.String(),
});
