// Extensions: the accounts phones register with. All reads come from an in-memory map
// (the SIP hot path looks credentials up here); the database is the durable copy and
// every write reaches it before the call returns.
import type { Db } from '../storage/database.js';
import { isUniqueViolation } from '../storage/database.js';
import { nowIso } from '../util/clock.js';
import type { SecretBox } from '../security/secret-box.js';
import { isWeakSecret, newSipSecret } from '../security/tokens.js';
import { PbxError } from './errors.js';
import type { DigestAlgorithm } from '../sip/digest.js';
import { ReloadableMap } from '../util/reloadable-map.js';

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
  /** Digest algorithms this extension may use; null = the server default. Shared between extensions: never changed in place. */
  digestAlgorithms: readonly DigestAlgorithm[] | null;
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

/** An import row checked: the extension it makes, its sealed secret when that changes. */
interface Planned {
  ext: Extension;
  sealed: string | null;
  isNew: boolean;
  pin: string | null;
  generated: boolean;
}

/** One row of a bulk import, with the file line it came from (for errors). */
export interface ImportRow {
  line: number;
  input: ExtensionInput;
}

/** Why a row of a bulk import was refused. */
export interface RowError {
  line: number;
  field: string;
  message: string;
}

export interface ImportResult {
  created: number;
  updated: number;
  /** Passwords generated for new extensions whose row gave none (shown this once). */
  generated: { number: string; password: string }[];
}

export class ExtensionService {
  private readonly byNumber = new ReloadableMap<string, Extension>();
  private readonly listeners: Listener[] = [];

  constructor(
    private readonly db: Db,
    private readonly box: SecretBox,
  ) {}

  /** Reads every extension; when reloading (another process changed some), tells the listeners which changed, and returns them. */
  async load(): Promise<string[]> {
    const before = await this.byNumber.reload(async () => {
      const rows = await this.db.selectFrom('extensions').selectAll().execute();
      // Most extensions list the same algorithms: one array for each distinct list.
      const algorithmLists = new Map<string, readonly DigestAlgorithm[]>();
      const algorithms = (text: string): readonly DigestAlgorithm[] => {
        let list = algorithmLists.get(text);
        if (!list) algorithmLists.set(text, (list = Object.freeze(JSON.parse(text) as DigestAlgorithm[])));
        return list;
      };
      const fresh = new Map<string, Extension>();
      for (const r of rows) {
        fresh.set(r.number, {
          number: r.number,
          name: r.name,
          secret: this.box.open(r.secret_enc),
          voicemailPin: r.voicemail_pin_enc ? this.box.open(r.voicemail_pin_enc) : null,
          enabled: r.enabled === 1,
          digestAlgorithms: r.digest_algorithms ? algorithms(r.digest_algorithms) : null,
          outboundClass: (r.outbound_class as OutboundClass | null) ?? null,
          createdAt: r.created_at,
          updatedAt: r.updated_at,
        });
      }
      return fresh;
    });
    this.sorted = null;
    const changed = changedKeys(before, this.byNumber);
    for (const number of changed) this.emit(number);
    return changed;
  }

  /** Called after any change, with the extension number. */
  onChange(listener: Listener): void {
    this.listeners.push(listener);
  }

  /** Every extension in number order (a copy; the sorted order is kept until the next change). */
  list(): Extension[] {
    this.sorted ??= [...this.byNumber.values()].sort((a, b) => byNumber(a.number, b.number));
    return this.sorted.slice();
  }

  /** How many there are, without listing them. */
  get count(): number {
    return this.byNumber.size;
  }

  private sorted: Extension[] | null = null;

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

  /**
   * Creates or updates many extensions at once (a CSV from FreePBX or FusionPBX): every
   * row is checked first, and one bad row changes nothing (the errors name each line).
   * Then one transaction writes them in chunks and the memory copy follows.
   * An existing number is updated with the columns the row gives. `rowErrors` are the
   * file's own (cells that could not be read): reported with the rest, in line order.
   * A dry run checks and writes nothing.
   */
  async importMany(rows: ImportRow[], o: { dryRun?: boolean; rowErrors?: RowError[] } = {}): Promise<ImportResult | { errors: RowError[] }> {
    const { next, errors } = this.plan(rows);
    const all = [...(o.rowErrors ?? []), ...errors].sort((a, b) => a.line - b.line);
    if (all.length > 0) return { errors: all };
    if (o.dryRun) return { created: 0, updated: 0, generated: [] };
    return this.write(next);
  }

  private plan(rows: ImportRow[]): { next: Planned[]; errors: RowError[] } {
    const errors: RowError[] = [];
    const seen = new Map<string, number>();
    const next: Planned[] = [];
    const now = nowIso();
    for (const { line, input } of rows) {
      try {
        if (!NUMBER.test(input.number)) throw new PbxError('invalid', 'number must be 2 to 10 digits', 'number');
        const first = seen.get(input.number);
        if (first !== undefined) throw new PbxError('invalid', `number ${input.number} is also on line ${first}`, 'number');
        seen.set(input.number, line);
        const current = this.byNumber.get(input.number);
        // The password it already has (an export imported again) is no new choice to judge.
        const newPassword = input.password !== undefined && input.password !== current?.secret;
        if (newPassword) checkSecret(input.password!, input.number, input.allow_weak_password, IMPORT_WEAK_HINT);
        const pin = input.voicemail_pin ?? null;
        if (pin !== null && !PIN.test(pin)) throw new PbxError('invalid', 'voicemail_pin must be 4 to 12 digits', 'voicemail_pin');
        if (pin !== null) this.pins?.check(input.number, pin);
        if (input.name !== undefined && input.name.length > 200) throw new PbxError('invalid', 'name must be at most 200 characters', 'name');
        const secret = input.password ?? current?.secret ?? newSipSecret();
        const ext: Extension = {
          number: input.number,
          name: input.name?.trim() || current?.name || `Extension ${input.number}`,
          secret,
          voicemailPin: current?.voicemailPin ?? null,
          enabled: input.enabled ?? current?.enabled ?? true,
          digestAlgorithms: input.digest_algorithms !== undefined ? checkAlgorithms(input.digest_algorithms) : (current?.digestAlgorithms ?? null),
          outboundClass: input.outbound_class !== undefined ? checkClass(input.outbound_class) : (current?.outboundClass ?? null),
          createdAt: current?.createdAt ?? now,
          updatedAt: now,
        };
        const changedSecret = !current || newPassword;
        next.push({ ext, sealed: changedSecret ? this.box.seal(secret) : null, isNew: !current, pin, generated: !current && input.password === undefined });
      } catch (err) {
        if (!(err instanceof PbxError)) throw err;
        errors.push({ line, field: err.field ?? 'row', message: err.message });
      }
    }
    return { next, errors };
  }

  private async write(next: Planned[]): Promise<ImportResult> {
    await this.db.transaction().execute(async (trx) => {
      for (let i = 0; i < next.length; i += 500) {
        const chunk = next.slice(i, i + 500);
        const created = chunk.filter((r) => r.isNew);
        if (created.length > 0) {
          await trx
            .insertInto('extensions')
            .values(
              created.map(({ ext, sealed }) => ({
                number: ext.number,
                name: ext.name,
                secret_enc: sealed!,
                voicemail_pin_enc: null,
                enabled: ext.enabled ? 1 : 0,
                digest_algorithms: ext.digestAlgorithms ? JSON.stringify(ext.digestAlgorithms) : null,
                outbound_class: ext.outboundClass,
                created_at: ext.createdAt,
                updated_at: ext.updatedAt,
              })),
            )
            .execute();
        }
        for (const { ext, sealed } of chunk.filter((r) => !r.isNew)) {
          await trx
            .updateTable('extensions')
            .set({ ...settingsRow(ext), ...(sealed ? { secret_enc: sealed } : {}) })
            .where('number', '=', ext.number)
            .execute();
        }
      }
    });
    for (const { ext } of next) this.byNumber.set(ext.number, ext);
    // PINs are hashed by their keeper (voicemail), one at a time.
    for (const { ext, pin } of next) {
      if (pin === null) continue;
      if (this.pins) await this.pins.set(ext.number, pin);
      else {
        await this.db.updateTable('extensions').set({ voicemail_pin_enc: this.box.seal(pin) }).where('number', '=', ext.number).execute();
        ext.voicemailPin = pin;
      }
    }
    for (const { ext } of next) this.emit(ext.number);
    return {
      created: next.filter((r) => r.isNew).length,
      updated: next.filter((r) => !r.isNew).length,
      generated: next.filter((r) => r.generated).map((r) => ({ number: r.ext.number, password: r.ext.secret })),
    };
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
        ...settingsRow(next),
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
    this.sorted = null;
    for (const l of this.listeners) l(number);
  }
}

/**
 * Extension numbers in numeric order (digits only: the shorter is the smaller, then
 * character by character). ICU's numeric collation did the same at a microsecond a
 * comparison: two seconds to sort 100,000.
 */
export function byNumber(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** The columns an update writes from an extension's settings (not its secret or PIN). */
function settingsRow(e: Extension) {
  return {
    name: e.name,
    enabled: e.enabled ? 1 : 0,
    digest_algorithms: e.digestAlgorithms ? JSON.stringify(e.digestAlgorithms) : null,
    outbound_class: e.outboundClass,
    updated_at: e.updatedAt,
  };
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

const IMPORT_WEAK_HINT = 'import with allow_weak_passwords=true (CLI: --allow-weak-passwords) to keep an old system\'s passwords, or leave the cell empty to have a strong one generated';

function checkSecret(secret: string, number: string, allowWeak?: boolean, hint?: string): void {
  if (secret.length > 128 || /[\u0000-\u001f\u007f]/.test(secret)) {
    throw new PbxError('invalid', 'password must be at most 128 printable characters', 'password');
  }
  if (!allowWeak && isWeakSecret(secret, number)) {
    throw new PbxError(
      'invalid',
      `password is weak (at least 12 characters, not containing the extension number, not repetitive); ${hint ?? 'omit it to have a strong one generated, or accept it anyway (CLI: --allow-weak-password; API: "allow_weak_password": true; web admin: "Accept it even if weak")'}`,
      'password',
    );
  }
}

/** Keys added, removed, or whose updatedAt moved between two loads. */
export function changedKeys<T extends { updatedAt: string }>(before: Map<string, T>, after: Map<string, T>): string[] {
  if (before.size === 0) return [...after.keys()];
  const keys = new Set([...before.keys(), ...after.keys()]);
  return [...keys].filter((k) => before.get(k)?.updatedAt !== after.get(k)?.updatedAt);
}
