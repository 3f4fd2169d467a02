// SIP trunks: the providers (ITSPs) the pbx sends outside calls to and takes calls from.
// Kept in the database and in memory (a call's route is looked up without a query); the
// password is sealed like SIP secrets and never shown again. Bad settings are refused
// with the field named, and nothing is changed.
import { isIP } from 'node:net';
import type { Kysely } from 'kysely';
import type { SecretBox } from '../../security/secret-box.js';
import type { Tables } from '../../storage/tables.js';
import { PbxError } from '../errors.js';
import { ReloadableMap } from '../../util/reloadable-map.js';

export type TrunkTransport = 'udp' | 'tcp' | 'tls';
export const TRUNK_TRANSPORTS: readonly TrunkTransport[] = ['udp', 'tcp', 'tls'];
/** How key presses go to the provider: RFC 4733 events in the RTP, or SIP INFO. */
export type DtmfMode = 'rfc4733' | 'info';
export const DTMF_MODES: readonly DtmfMode[] = ['rfc4733', 'info'];
/** Where the caller's number goes toward the provider: only From, or also P-Asserted-Identity / Remote-Party-ID. */
export type CallerIdHeader = 'from' | 'pai' | 'rpid';
export const CALLER_ID_HEADERS: readonly CallerIdHeader[] = ['from', 'pai', 'rpid'];
/**
 * Where the number a caller dialled (the DID) is in the provider's INVITE: the
 * Request-URI, To, or the first diversion (Diversion, History-Info) for a call the
 * provider forwarded. auto: the Request-URI, unless it names the user we register as
 * (contact_user or username), then To.
 */
export type DidFrom = 'auto' | 'request_uri' | 'to' | 'diversion';
export const DID_FROM: readonly DidFrom[] = ['auto', 'request_uri', 'to', 'diversion'];
export const TRUNK_CODECS = ['PCMU', 'PCMA'] as const;

export interface Trunk {
  name: string;
  enabled: boolean;
  /** The provider's domain or address; its SRV records (then A/AAAA) give the targets. */
  host: string;
  /** A fixed port (no SRV lookup); null: SRV, else 5060 (5061 for TLS). */
  port: number | null;
  transport: TrunkTransport;
  /** Send everything through this proxy (host[:port]) instead of the host's targets. */
  outboundProxy: string | null;
  /** Register with the provider (false: an IP-authenticated trunk). */
  register: boolean;
  username: string | null;
  /** The user name in digest answers, when the provider's differs from `username`. */
  authUsername: string | null;
  /** Clear password; in memory only, sealed in the database. */
  password: string | null;
  /** Answer only challenges of this realm (null: any). */
  realm: string | null;
  expirySeconds: number;
  /** The user part of the Contact we register: what the provider puts in the Request-URI of inbound calls. */
  contactUser: string | null;
  /** The From user of outbound calls (null: the caller's number). */
  fromUser: string | null;
  /** Addresses (or CIDR ranges) inbound calls may come from; empty: the host's resolved addresses. */
  allowedAddresses: string[];
  codecs: string[];
  dtmfMode: DtmfMode;
  /** Calls at once on this trunk (null: no limit). */
  maxCalls: number | null;
  /** Lower goes first when a route lists several trunks of equal standing. */
  priority: number;
  callerIdHeader: CallerIdHeader;
  didFrom: DidFrom;
  createdAt: string;
  updatedAt: string;
}

/** What an admin gives to create a trunk (fields as in the API). */
export interface TrunkInput {
  name: string;
  enabled?: boolean;
  host: string;
  port?: number | null;
  transport?: TrunkTransport;
  outbound_proxy?: string | null;
  register?: boolean;
  username?: string | null;
  auth_username?: string | null;
  password?: string | null;
  realm?: string | null;
  expiry_seconds?: number;
  contact_user?: string | null;
  from_user?: string | null;
  allowed_addresses?: string[];
  codecs?: string[];
  dtmf_mode?: DtmfMode;
  max_calls?: number | null;
  priority?: number;
  caller_id_header?: CallerIdHeader;
  did_from?: DidFrom;
}

export type TrunkPatch = Partial<Omit<TrunkInput, 'name'>>;

type Db = Kysely<Tables>;
type Listener = (name: string) => void;

const NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const HOST = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
const USER = /^[A-Za-z0-9_.!~*'()&=+$,;?/%#-]{1,64}$/;

export class TrunkStore {
  private readonly byName = new ReloadableMap<string, Trunk>();
  private readonly listeners: Listener[] = [];

  constructor(
    private readonly db: Db,
    private readonly box: SecretBox,
  ) {}

  async load(): Promise<void> {
    const before = await this.byName.reload(async () => {
      const rows = await this.db.selectFrom('trunks').selectAll().execute();
      const fresh = new Map<string, Trunk>();
      for (const r of rows) {
        fresh.set(r.name, {
          name: r.name,
          enabled: r.enabled === 1,
          host: r.host,
          port: r.port,
          transport: r.transport as TrunkTransport,
          outboundProxy: r.outbound_proxy,
          register: r.register === 1,
          username: r.username,
          authUsername: r.auth_username,
          password: r.password_enc ? this.box.open(r.password_enc) : null,
          realm: r.realm,
          expirySeconds: r.expiry_seconds,
          contactUser: r.contact_user,
          fromUser: r.from_user,
          allowedAddresses: JSON.parse(r.allowed_addresses) as string[],
          codecs: JSON.parse(r.codecs) as string[],
          dtmfMode: r.dtmf_mode as DtmfMode,
          maxCalls: r.max_calls,
          priority: r.priority,
          callerIdHeader: r.caller_id_header as CallerIdHeader,
          didFrom: r.did_from as DidFrom,
          createdAt: r.created_at,
          updatedAt: r.updated_at,
        });
      }
      return fresh;
    });
    for (const name of new Set([...before.keys(), ...this.byName.keys()])) {
      if (before.get(name)?.updatedAt !== this.byName.get(name)?.updatedAt) this.emit(name);
    }
  }

  /** Called with a trunk's name when it was created, changed or deleted. */
  onChange(listener: Listener): void {
    this.listeners.push(listener);
  }

  list(): Trunk[] {
    return [...this.byName.values()].sort((a, b) => a.priority - b.priority || a.name.localeCompare(b.name));
  }

  get(name: string): Trunk | undefined {
    return this.byName.get(name);
  }

  require(name: string): Trunk {
    const t = this.byName.get(name);
    if (!t) throw new PbxError('not_found', `No trunk named ${name}`);
    return t;
  }

  async create(input: TrunkInput): Promise<Trunk> {
    if (!NAME.test(input.name ?? '')) throw new PbxError('invalid', 'name: 1 to 32 lower-case letters, digits, - or _, starting with a letter or digit', 'name');
    if (this.byName.has(input.name)) throw new PbxError('conflict', `A trunk named ${input.name} exists`, 'name');
    const now = new Date().toISOString();
    const trunk = checked({
      name: input.name,
      enabled: input.enabled ?? true,
      host: input.host,
      port: input.port ?? null,
      transport: input.transport ?? 'udp',
      outboundProxy: input.outbound_proxy ?? null,
      register: input.register ?? true,
      username: input.username ?? null,
      authUsername: input.auth_username ?? null,
      password: input.password ?? null,
      realm: input.realm ?? null,
      expirySeconds: input.expiry_seconds ?? 3600,
      contactUser: input.contact_user ?? null,
      fromUser: input.from_user ?? null,
      allowedAddresses: input.allowed_addresses ?? [],
      codecs: input.codecs ?? [...TRUNK_CODECS],
      dtmfMode: input.dtmf_mode ?? 'rfc4733',
      maxCalls: input.max_calls ?? null,
      priority: input.priority ?? 10,
      callerIdHeader: input.caller_id_header ?? 'pai',
      didFrom: input.did_from ?? 'auto',
      createdAt: now,
      updatedAt: now,
    });
    await this.db.insertInto('trunks').values(this.row(trunk)).execute();
    this.byName.set(trunk.name, trunk);
    this.emit(trunk.name);
    return trunk;
  }

  async update(name: string, patch: TrunkPatch): Promise<Trunk> {
    const old = this.require(name);
    const next = checked({
      ...old,
      ...(patch.enabled !== undefined ? { enabled: patch.enabled } : {}),
      ...(patch.host !== undefined ? { host: patch.host } : {}),
      ...(patch.port !== undefined ? { port: patch.port } : {}),
      ...(patch.transport !== undefined ? { transport: patch.transport } : {}),
      ...(patch.outbound_proxy !== undefined ? { outboundProxy: patch.outbound_proxy } : {}),
      ...(patch.register !== undefined ? { register: patch.register } : {}),
      ...(patch.username !== undefined ? { username: patch.username } : {}),
      ...(patch.auth_username !== undefined ? { authUsername: patch.auth_username } : {}),
      ...(patch.password !== undefined ? { password: patch.password } : {}),
      ...(patch.realm !== undefined ? { realm: patch.realm } : {}),
      ...(patch.expiry_seconds !== undefined ? { expirySeconds: patch.expiry_seconds } : {}),
      ...(patch.contact_user !== undefined ? { contactUser: patch.contact_user } : {}),
      ...(patch.from_user !== undefined ? { fromUser: patch.from_user } : {}),
      ...(patch.allowed_addresses !== undefined ? { allowedAddresses: patch.allowed_addresses } : {}),
      ...(patch.codecs !== undefined ? { codecs: patch.codecs } : {}),
      ...(patch.dtmf_mode !== undefined ? { dtmfMode: patch.dtmf_mode } : {}),
      ...(patch.max_calls !== undefined ? { maxCalls: patch.max_calls } : {}),
      ...(patch.priority !== undefined ? { priority: patch.priority } : {}),
      ...(patch.caller_id_header !== undefined ? { callerIdHeader: patch.caller_id_header } : {}),
      ...(patch.did_from !== undefined ? { didFrom: patch.did_from } : {}),
      updatedAt: new Date().toISOString(),
    });
    const { name: _, created_at: __, ...row } = this.row(next);
    await this.db.updateTable('trunks').set(row).where('name', '=', name).execute();
    this.byName.set(name, next);
    this.emit(name);
    return next;
  }

  async delete(name: string): Promise<void> {
    this.require(name);
    await this.db.deleteFrom('trunks').where('name', '=', name).execute();
    this.byName.delete(name);
    this.emit(name);
  }

  private row(t: Trunk): Tables['trunks'] {
    return {
      name: t.name,
      enabled: t.enabled ? 1 : 0,
      host: t.host,
      port: t.port,
      transport: t.transport,
      outbound_proxy: t.outboundProxy,
      register: t.register ? 1 : 0,
      username: t.username,
      auth_username: t.authUsername,
      password_enc: t.password === null ? null : this.box.seal(t.password),
      realm: t.realm,
      expiry_seconds: t.expirySeconds,
      contact_user: t.contactUser,
      from_user: t.fromUser,
      allowed_addresses: JSON.stringify(t.allowedAddresses),
      codecs: JSON.stringify(t.codecs),
      dtmf_mode: t.dtmfMode,
      max_calls: t.maxCalls,
      priority: t.priority,
      caller_id_header: t.callerIdHeader,
      did_from: t.didFrom,
      created_at: t.createdAt,
      updated_at: t.updatedAt,
    };
  }

  private emit(name: string): void {
    for (const l of this.listeners) l(name);
  }
}

/** The trunk as given, or a PbxError naming the first field that is wrong (and why). */
function checked(t: Trunk): Trunk {
  const bad = (field: string, why: string): never => {
    throw new PbxError('invalid', `${field}: ${why}`, field);
  };
  if (!HOST.test(t.host) && !isIP(t.host)) bad('host', `"${t.host}" is neither a host name nor an IP address`);
  if (t.port !== null && (!Number.isInteger(t.port) || t.port < 1 || t.port > 65535)) bad('port', 'a port number, 1 to 65535 (or null for DNS SRV)');
  if (!TRUNK_TRANSPORTS.includes(t.transport)) bad('transport', `one of ${TRUNK_TRANSPORTS.join(', ')}`);
  if (t.outboundProxy !== null) {
    const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s]+)(?::(\d{1,5}))?$/.exec(t.outboundProxy);
    const host = m?.[1]?.replace(/^\[|\]$/g, '') ?? '';
    if (!m || (!HOST.test(host) && !isIP(host)) || (m[2] !== undefined && (Number(m[2]) < 1 || Number(m[2]) > 65535))) bad('outbound_proxy', 'host or host:port');
  }
  for (const [field, value] of [['username', t.username], ['auth_username', t.authUsername], ['contact_user', t.contactUser], ['from_user', t.fromUser]] as const) {
    if (value !== null && !USER.test(value)) bad(field, 'a SIP user part (letters, digits and - _ . ! ~ * \' ( ) & = + $ , ; ? / % #), at most 64 characters');
  }
  if (t.register && (!t.username || !t.password)) bad(t.username ? 'password' : 'username', 'a registering trunk needs a user name and a password (or register: false for an IP-authenticated trunk)');
  if (t.password !== null && (t.password.length === 0 || t.password.length > 128 || /[\r\n]/.test(t.password))) bad('password', '1 to 128 characters, no line breaks');
  if (!Number.isInteger(t.expirySeconds) || t.expirySeconds < 60 || t.expirySeconds > 86_400) bad('expiry_seconds', 'seconds, 60 to 86400');
  for (const entry of t.allowedAddresses) {
    const [addr = '', bits] = entry.split('/');
    const family = isIP(addr);
    const max = family === 6 ? 128 : 32;
    if (!family || (bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= max))) bad('allowed_addresses', `"${entry}" is not an address or a CIDR range (1.2.3.4, 10.0.0.0/8, 2001:db8::/32)`);
  }
  if (t.codecs.length === 0 || t.codecs.some((c) => !(TRUNK_CODECS as readonly string[]).includes(c))) bad('codecs', `one or more of ${TRUNK_CODECS.join(', ')}`);
  if (!DTMF_MODES.includes(t.dtmfMode)) bad('dtmf_mode', `one of ${DTMF_MODES.join(', ')}`);
  if (t.maxCalls !== null && (!Number.isInteger(t.maxCalls) || t.maxCalls < 1)) bad('max_calls', 'a whole number of calls, at least 1 (or null: no limit)');
  if (!Number.isInteger(t.priority) || t.priority < 0 || t.priority > 1000) bad('priority', 'a whole number, 0 to 1000');
  if (!CALLER_ID_HEADERS.includes(t.callerIdHeader)) bad('caller_id_header', `one of ${CALLER_ID_HEADERS.join(', ')}`);
  if (!DID_FROM.includes(t.didFrom)) bad('did_from', `one of ${DID_FROM.join(', ')}`);
  return t;
}
