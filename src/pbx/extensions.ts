// Extensions: the accounts phones register with. All reads come from an in-memory map
// (the SIP hot path looks credentials up here); the database is the durable copy and
// every write reaches it before the call returns.
import type { Db } from '../storage/database.js';
import { isUniqueViolation, nowIso } from '../storage/database.js';
import type { SecretBox } from '../security/secret-box.js';
import { isWeakSecret, newSipSecret } from '../security/tokens.js';
import { PbxError } from './errors.js';
import type { DigestAlgorithm } from '../sip/digest.js';

/** The voicemail PINs' keeper: its policy (throws PbxError) and hashed storage. */
export interface VoicemailPins {
  check(number: string, pin: string): void;
  set(number: string, pin: string): Promise<void>;
}

export interface Extension {
  number: string;
  name: string;
  /** Clear SIP secret; kept in memory only, sealed in the database. */
  secret: string;
  voicemailPin: string | null;
  enabled: boolean;
  /** Digest algorithms this extension may use; null = the server default. */
  digestAlgorithms: DigestAlgorithm[] | null;
  /** What outside numbers it may call (internal, local, national, international); null = dialplan.default_class. */
  outboundClass: OutboundClass | null;
  createdAt: string;
  updatedAt: string;
}

export interface ExtensionInput {
  number: string;
  name?: string;
  password?: string;
  voicemail_pin?: string;
  enabled?: boolean;
  digest_algorithms?: DigestAlgorithm[] | null;
  outbound_class?: OutboundClass | null;
  /** Accept a password that fails the strength check. */
  allow_weak_password?: boolean;
}

export type ExtensionPatch = Partial<Omit<ExtensionInput, 'number'>> & { regenerate_password?: boolean };

export type OutboundClass = 'internal' | 'local' | 'national' | 'international';
export const OUTBOUND_CLASSES: readonly OutboundClass[] = ['internal', 'local', 'national', 'international'];

function checkClass(c: string | null | undefined): OutboundClass | null {
  if (c === undefined || c === null) return null;
  if (!(OUTBOUND_CLASSES as readonly string[]).includes(c)) throw new PbxError('invalid', `outbound_class must be one of ${OUTBOUND_CLASSES.join(', ')} (or null for dialplan.default_class)`, 'outbound_class');
  return c as OutboundClass;
}

const NUMBER = /^[0-9]{2,10}$/;
const PIN = /^[0-9]{4,12}$/;

type Listener = (number: string) => void;

export class ExtensionService {
  private readonly byNumber = new Map<string, Extension>();
  private readonly listeners: Listener[] = [];

  constructor(
    private readonly db: Db,
    private readonly box: SecretBox,
  ) {}

  /** Reads every extension; when reloading (another process changed some), tells the listeners which changed. */
  async load(): Promise<void> {
    const rows = await this.db.selectFrom('extensions').selectAll().execute();
    const before = new Map(this.byNumber);
    this.byNumber.clear();
    for (const r of rows) {
      this.byNumber.set(r.number, {
        number: r.number,
        name: r.name,
        secret: this.box.open(r.secret_enc),
        voicemailPin: r.voicemail_pin_enc ? this.box.open(r.voicemail_pin_enc) : null,
        enabled: r.enabled === 1,
        digestAlgorithms: r.digest_algorithms ? (JSON.parse(r.digest_algorithms) as DigestAlgorithm[]) : null,
        outboundClass: (r.outbound_class as OutboundClass | null) ?? null,
        createdAt: r.created_at,
        updatedAt: r.updated_at,
      });
    }
    for (const number of changedKeys(before, this.byNumber)) this.emit(number);
  }

  /** Called after any change, with the extension number. */
  onChange(listener: Listener): void {
    this.listeners.push(listener);
  }

  list(): Extension[] {
    return [...this.byNumber.values()].sort((a, b) => a.number.localeCompare(b.number, 'en', { numeric: true }));
  }

  get(number: string): Extension | undefined {
    return this.byNumber.get(number);
  }

  require(number: string): Extension {
    const ext = this.byNumber.get(number);
    if (!ext) throw new PbxError('not_found', `Extension ${number} not found`, 'number');
    return ext;
  }

  /**
   * Where voicemail PINs go (hashed, with their policy): the voicemail service, set by the
   * composition root. Without it (tools that run no voicemail), PINs are kept sealed here.
   */
  pins: VoicemailPins | null = null;

  /** Creates an extension; `password` in the result is the secret, returned this once. */
  async create(input: ExtensionInput): Promise<{ extension: Extension; password: string }> {
    if (!NUMBER.test(input.number)) {
      throw new PbxError('invalid', 'number must be 2 to 10 digits', 'number');
    }
    if (this.byNumber.has(input.number)) {
      throw new PbxError('conflict', `Extension ${input.number} already exists`, 'number');
    }
    const secret = input.password ?? newSipSecret();
    checkSecret(secret, input.number, input.allow_weak_password);
    const pin = input.voicemail_pin ?? null;
    if (pin !== null && !PIN.test(pin)) throw new PbxError('invalid', 'voicemail_pin must be 4 to 12 digits', 'voicemail_pin');
    if (pin !== null) this.pins?.check(input.number, pin);
    const now = nowIso();
    const ext: Extension = {
      number: input.number,
      name: input.name?.trim() || `Extension ${input.number}`,
      secret,
      voicemailPin: pin,
      enabled: input.enabled ?? true,
      digestAlgorithms: checkAlgorithms(input.digest_algorithms),
      outboundClass: checkClass(input.outbound_class),
      createdAt: now,
      updatedAt: now,
    };
    await this.db
      .insertInto('extensions')
      .values({
        number: ext.number,
        name: ext.name,
        secret_enc: this.box.seal(secret),
        voicemail_pin_enc: pin === null || this.pins ? null : this.box.seal(pin),
        enabled: ext.enabled ? 1 : 0,
        digest_algorithms: ext.digestAlgorithms ? JSON.stringify(ext.digestAlgorithms) : null,
        outbound_class: ext.outboundClass,
        created_at: now,
        updated_at: now,
      })
      .execute()
      .catch((err: unknown) => {
        if (isUniqueViolation(err)) throw new PbxError('conflict', `Extension ${input.number} already exists`, 'number');
        throw err;
      });
    if (pin !== null && this.pins) await this.pins.set(ext.number, pin);
    this.byNumber.set(ext.number, ext);
    this.emit(ext.number);
    return { extension: ext, password: secret };
  }

  /** Updates an extension; returns the new secret when one was set or generated. */
  async update(number: string, patch: ExtensionPatch): Promise<{ extension: Extension; password?: string }> {
    const current = this.require(number);
    const next: Extension = { ...current, updatedAt: nowIso() };
    if (patch.name !== undefined) {
      if (!patch.name.trim()) throw new PbxError('invalid', 'name must not be empty', 'name');
      next.name = patch.name.trim();
    }
    if (patch.enabled !== undefined) next.enabled = patch.enabled;
    if (patch.digest_algorithms !== undefined) next.digestAlgorithms = checkAlgorithms(patch.digest_algorithms);
    if (patch.outbound_class !== undefined) next.outboundClass = checkClass(patch.outbound_class);
    let newSecret: string | undefined;
    if (patch.password !== undefined) {
      checkSecret(patch.password, number, patch.allow_weak_password);
      newSecret = patch.password;
    } else if (patch.regenerate_password) newSecret = newSipSecret();
    if (newSecret !== undefined) next.secret = newSecret;
    if (patch.voicemail_pin !== undefined) {
      if (!PIN.test(patch.voicemail_pin)) throw new PbxError('invalid', 'voicemail_pin must be 4 to 12 digits', 'voicemail_pin');
      this.pins?.check(number, patch.voicemail_pin);
      next.voicemailPin = patch.voicemail_pin;
    }
    await this.db
      .updateTable('extensions')
      .set({
        name: next.name,
        enabled: next.enabled ? 1 : 0,
        digest_algorithms: next.digestAlgorithms ? JSON.stringify(next.digestAlgorithms) : null,
        outbound_class: next.outboundClass,
        updated_at: next.updatedAt,
        ...(newSecret !== undefined ? { secret_enc: this.box.seal(newSecret) } : {}),
        ...(patch.voicemail_pin !== undefined && !this.pins ? { voicemail_pin_enc: this.box.seal(patch.voicemail_pin) } : {}),
      })
      .where('number', '=', number)
      .execute();
    if (patch.voicemail_pin !== undefined && this.pins) await this.pins.set(number, patch.voicemail_pin);
    this.byNumber.set(number, next);
    this.emit(number);
    return { extension: next, password: newSecret };
  }

  /** Forgets a voicemail PIN kept sealed by older versions (it now lives hashed with the mailbox). */
  async dropSealedPin(number: string): Promise<void> {
    const e = this.byNumber.get(number);
    if (!e || e.voicemailPin === null) return;
    await this.db.updateTable('extensions').set({ voicemail_pin_enc: null }).where('number', '=', number).execute();
    e.voicemailPin = null;
  }

  async delete(number: string): Promise<void> {
    this.require(number);
    const users = await this.db
      .selectFrom('device_lines')
      .select('device_mac')
      .where('extension_number', '=', number)
      .execute();
    if (users.length > 0) {
      throw new PbxError(
        'conflict',
        `Extension ${number} is assigned to device(s) ${users.map((u) => u.device_mac).join(', ')}; remove or reassign them first`,
        'number',
      );
    }
    await this.db.deleteFrom('extensions').where('number', '=', number).execute();
    this.byNumber.delete(number);
    this.emit(number);
  }

  private emit(number: string): void {
    for (const l of this.listeners) l(number);
  }
}

function checkAlgorithms(list: DigestAlgorithm[] | null | undefined): DigestAlgorithm[] | null {
  if (!list) return null;
  const known: DigestAlgorithm[] = ['SHA-256', 'MD5'];
  const bad = list.find((a) => !known.includes(a));
  if (bad || list.length === 0) {
    throw new PbxError('invalid', `digest_algorithms must list one or more of ${known.join(', ')}`, 'digest_algorithms');
  }
  return [...new Set(list)];
}

function checkSecret(secret: string, number: string, allowWeak?: boolean): void {
  if (secret.length > 128 || /[\u0000-\u001f\u007f]/.test(secret)) {
    throw new PbxError('invalid', 'password must be at most 128 printable characters', 'password');
  }
  if (!allowWeak && isWeakSecret(secret, number)) {
    throw new PbxError(
      'invalid',
      'password is weak (at least 12 characters, not containing the extension number, not repetitive); omit it to have a strong one generated, or accept it anyway (CLI: --allow-weak-password; API: "allow_weak_password": true; web admin: "Accept it even if weak")',
      'password',
    );
  }
}

/** Keys added, removed, or whose updatedAt moved between two loads. */
export function changedKeys<T extends { updatedAt: string }>(before: Map<string, T>, after: Map<string, T>): string[] {
  const keys = new Set([...before.keys(), ...after.keys()]);
  return [...keys].filter((k) => before.get(k)?.updatedAt !== after.get(k)?.updatedAt);
}
