// Row types of every table. Timestamps are ISO-8601 text so SQLite and PostgreSQL
// store and sort them the same way.
import type { Generated } from 'kysely';

export interface ExtensionsTable {
  number: string;
  name: string;
  secret_enc: string;
  voicemail_pin_enc: string | null;
  enabled: number;
  digest_algorithms: string | null;
  outbound_class: string | null;
  created_at: string;
  updated_at: string;
}

export interface DevicesTable {
  mac: string;
  vendor: string;
  model: string;
  label: string | null;
  /** JSON object of vendor key → value written into this phone's file. */
  overrides: string;
  created_at: string;
  updated_at: string;
  last_provisioned: string | null;
  last_ip: string | null;
  last_user_agent: string | null;
  /** The provisioning URL written into the file last delivered; informational only, never used to build a URL. */
  last_served_url: string | null;
  last_fetch_hash: string | null;
  last_fetch_port: number | null;
  last_fetch_legacy: number;
  resync_sent_at: string | null;
  /** Provisioning credential: user name, and the password sealed with the secret box. */
  prov_user: string | null;
  prov_secret_enc: string | null;
  /** When the first-fetch window opened (device added, credential changed); null: closed. */
  window_opened_at: string | null;
  /** Last fetch the phone authenticated with its credential (closes the window). */
  prov_authenticated_at: string | null;
  /** First fetch through the first-fetch window; the window closes soon after. */
  window_used_at: string | null;
  /** Which listener its URLs point at: default, http or https. */
  listener: string;
}

export interface LegacyListenersTable {
  port: number;
  host: string;
  scheme: string;
  until: string;
}

export interface DeviceLinesTable {
  device_mac: string;
  line_index: number;
  extension_number: string;
}

export interface ProvisioningRequestsTable {
  id: Generated<number>;
  at: string;
  ip: string;
  method: string;
  path: string;
  mac: string | null;
  user_agent: string | null;
  status: number;
  outcome: string;
  vendor: string | null;
  model: string | null;
  detail: string | null;
}

export interface ApiTokensTable {
  id: Generated<number>;
  name: string;
  token_hash: string;
  role: string;
  created_at: string;
  last_used_at: string | null;
  expires_at: string | null;
  revoked_at: string | null;
}

export interface RegistrationsTable {
  aor: string;
  contact: string;
  /** Contact header parameters other than expires and q, as written (`;+sip.instance="…";reg-id=1`). */
  contact_params: string;
  expires_at: string;
  transport: string;
  source_address: string;
  source_port: number;
  flow_id: string;
  user_agent: string | null;
  call_id: string;
  cseq: number;
  q: string | null;
  instance: string | null;
  reg_id: number | null;
  path: string | null;
  registered_at: string;
  behind_nat: number;
  /** The pbx node the REGISTER arrived on (cluster.node_id; '' before nodes were recorded). */
  node_id: string;
}

/** A confirmed dialog the proxy routes (and its answered call), kept across restarts. */
export interface MailboxesTable {
  number: string;
  enabled: number;
  pin_hash: string | null;
  email: string | null;
  attach_audio: number;
  delete_after_email: number;
  max_messages: number | null;
  no_answer_seconds: number | null;
  updated_at: string;
}

export interface VoicemailMessagesTable {
  id: string;
  mailbox: string;
  caller: string;
  caller_name: string | null;
  created_at: string;
  duration_ms: number;
  folder: 'new' | 'saved';
  file: string;
  emailed_at: string | null;
}

export interface DialogsTable {
  id: string;
  call_id: string;
  caller_tag: string;
  callee_tag: string;
  /** JSON of pbx/reach.ts Peer: where the party was last reached. */
  caller_peer: string;
  callee_peer: string;
  /** The call (extensions and times) when the dialog is a call; null otherwise. */
  caller: string | null;
  callee: string | null;
  started_at: string | null;
  answered_at: string | null;
  updated_at: string;
}

export interface CdrTable {
  id: Generated<number>;
  call_id: string;
  caller: string;
  callee: string;
  started_at: string;
  answered_at: string | null;
  ended_at: string;
  result: string;
  status: number;
  hangup_side: string | null;
  duration_seconds: number;
  media_packets_sent: number | null;
  media_packets_received: number | null;
  media_packets_lost: number | null;
  media_jitter_ms: number | null;
  media_one_way: string | null;
  /** internal, outbound or inbound (null: rows from before trunks). */
  direction: string | null;
  trunk: string | null;
  did: string | null;
}

export interface TrunksTable {
  name: string;
  enabled: number;
  host: string;
  port: number | null;
  transport: string;
  outbound_proxy: string | null;
  register: number;
  username: string | null;
  auth_username: string | null;
  password_enc: string | null;
  realm: string | null;
  expiry_seconds: number;
  contact_user: string | null;
  from_user: string | null;
  allowed_addresses: string;
  codecs: string;
  dtmf_mode: string;
  max_calls: number | null;
  priority: number;
  caller_id_header: string;
  did_from: string;
  created_at: string;
  updated_at: string;
}

export interface AdminsTable {
  username: string;
  password_hash: string;
  role: string;
  created_at: string;
  failed_logins: number;
  locked_until: string | null;
  last_login_at: string | null;
}

export interface Tables {
  admins: AdminsTable;
  legacy_listeners: LegacyListenersTable;
  registrations: RegistrationsTable;
  cdr: CdrTable;
  dialogs: DialogsTable;
  mailboxes: MailboxesTable;
  voicemail_messages: VoicemailMessagesTable;
  extensions: ExtensionsTable;
  devices: DevicesTable;
  device_lines: DeviceLinesTable;
  provisioning_requests: ProvisioningRequestsTable;
  api_tokens: ApiTokensTable;
  trunks: TrunksTable;
}
