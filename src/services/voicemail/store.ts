// Mailboxes and their messages. A message is audio in <voicemail.dir>/<mailbox>/<id>.wav
// and a row in voicemail_messages, and the two exist together or not at all: the audio is
// recorded into <id>.wav.part, finished (sizes written, fsync), renamed, and only then is
// the row written; at start-up, .part files and audio without a row are removed (a crash
// in between), and rows whose audio is gone are dropped. A listed message always plays
// whole. Settings per mailbox (PIN hashed, email …) live in `mailboxes`; no row = defaults.
import { mkdirSync, readdirSync, renameSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Selectable } from 'kysely';
import type { Db } from '../../storage/database.js';
import type { VoicemailMessagesTable } from '../../storage/tables.js';
import { SAMPLE_RATE, decodeWav, encodeWav, WavFormatError } from '../../media/wav.js';
import { hashPassword, verifyPassword } from '../../security/passwords.js';
import { PbxError } from '../../pbx/errors.js';

export type Folder = 'new' | 'saved';

export interface Message {
  id: string;
  mailbox: string;
  caller: string;
  callerName: string | null;
  createdAt: string;
  durationMs: number;
  folder: Folder;
  file: string;
  emailedAt: string | null;
}

export interface MailboxSettings {
  number: string;
  enabled: boolean;
  hasPin: boolean;
  email: string | null;
  attachAudio: boolean;
  deleteAfterEmail: boolean;
  maxMessages: number | null;
  noAnswerSeconds: number | null;
}

export interface Counts {
  new: number;
  saved: number;
}

export type Greeting = 'unavailable' | 'busy' | 'name';

/**
 * A message being recorded: the media layer writes the WAV at `path` (a .part file),
 * then commit() moves it into place and lists it.
 */
export interface Recording {
  readonly path: string;
  /** The file at `path` is complete with `samples`: move it into place and list the message (null: too short, discarded). */
  commit(samples: number): Promise<Message | null>;
  discard(): void;
}

interface MailboxRow {
  enabled: boolean;
  pinHash: string | null;
  email: string | null;
  attachAudio: boolean;
  deleteAfterEmail: boolean;
  maxMessages: number | null;
  noAnswerSeconds: number | null;
}

export interface StoreOptions {
  dir: string;
  enabledByDefault: boolean;
  minMessageMs: number;
  pinMinLength: number;
}

export class VoicemailStore {
  private readonly settings = new Map<string, MailboxRow>();
  private readonly listeners: ((mailbox: string) => void)[] = [];
  private readonly settingsListeners: ((mailbox: string) => void)[] = [];

  constructor(
    private readonly db: Db,
    private readonly opts: () => StoreOptions,
  ) {}

  /** Loads settings and brings files and rows back together after a crash. */
  async load(): Promise<{ removedFiles: number; droppedRows: number }> {
    this.settings.clear();
    for (const r of await this.db.selectFrom('mailboxes').selectAll().execute()) {
      this.settings.set(r.number, {
        enabled: r.enabled === 1,
        pinHash: r.pin_hash,
        email: r.email,
        attachAudio: r.attach_audio === 1,
        deleteAfterEmail: r.delete_after_email === 1,
        maxMessages: r.max_messages,
        noAnswerSeconds: r.no_answer_seconds,
      });
    }
    const rows = await this.db.selectFrom('voicemail_messages').select(['id', 'mailbox', 'file']).execute();
    const listed = new Set(rows.map((r) => join(r.mailbox, r.file)));
    let removedFiles = 0;
    let droppedRows = 0;
    const dir = this.opts().dir;
    if (existsSync(dir)) {
      for (const mailbox of readdirSync(dir)) {
        if (!/^[0-9]+$/.test(mailbox)) continue;
        for (const f of readdirSync(join(dir, mailbox))) {
          const isMessage = /^m-[0-9a-z-]+\.wav(\.part)?$/.test(f);
          if (isMessage && (f.endsWith('.part') || !listed.has(join(mailbox, f)))) {
            rmSync(join(dir, mailbox, f), { force: true });
            removedFiles++;
          }
        }
      }
    }
    for (const r of rows) {
      if (!existsSync(join(dir, r.mailbox, r.file))) {
        await this.db.deleteFrom('voicemail_messages').where('id', '=', r.id).execute();
        droppedRows++;
      }
    }
    return { removedFiles, droppedRows };
  }

  /** A mailbox's messages changed (a new one, heard, saved, deleted). */
  onChange(listener: (mailbox: string) => void): void {
    this.listeners.push(listener);
  }

  /** A mailbox's settings changed (on/off matters to the phones' files). */
  onSettingsChange(listener: (mailbox: string) => void): void {
    this.settingsListeners.push(listener);
  }

  private changed(mailbox: string): void {
    for (const l of this.listeners) l(mailbox);
  }

  mailbox(number: string): MailboxSettings {
    const r = this.settings.get(number);
    return {
      number,
      enabled: r?.enabled ?? this.opts().enabledByDefault,
      hasPin: !!r?.pinHash,
      email: r?.email ?? null,
      attachAudio: r?.attachAudio ?? true,
      deleteAfterEmail: r?.deleteAfterEmail ?? false,
      maxMessages: r?.maxMessages ?? null,
      noAnswerSeconds: r?.noAnswerSeconds ?? null,
    };
  }

  async updateMailbox(
    number: string,
    patch: Partial<Omit<MailboxSettings, 'number' | 'hasPin'>> & { pin?: string },
    /** Keep a PIN an older version accepted even if today's policy would not (it is only hashed). */
    opts: { existingPin?: boolean } = {},
  ): Promise<MailboxSettings> {
    const current = this.settings.get(number) ?? {
      enabled: this.opts().enabledByDefault,
      pinHash: null,
      email: null,
      attachAudio: true,
      deleteAfterEmail: false,
      maxMessages: null,
      noAnswerSeconds: null,
    };
    if (patch.pin !== undefined && !opts.existingPin) this.checkPin(number, patch.pin);
    const next: MailboxRow = {
      enabled: patch.enabled ?? current.enabled,
      pinHash: patch.pin !== undefined ? await hashPassword(patch.pin) : current.pinHash,
      email: patch.email !== undefined ? patch.email : current.email,
      attachAudio: patch.attachAudio ?? current.attachAudio,
      deleteAfterEmail: patch.deleteAfterEmail ?? current.deleteAfterEmail,
      maxMessages: patch.maxMessages !== undefined ? patch.maxMessages : current.maxMessages,
      noAnswerSeconds: patch.noAnswerSeconds !== undefined ? patch.noAnswerSeconds : current.noAnswerSeconds,
    };
    const row = {
      number,
      enabled: next.enabled ? 1 : 0,
      pin_hash: next.pinHash,
      email: next.email,
      attach_audio: next.attachAudio ? 1 : 0,
      delete_after_email: next.deleteAfterEmail ? 1 : 0,
      max_messages: next.maxMessages,
      no_answer_seconds: next.noAnswerSeconds,
      updated_at: new Date().toISOString(),
    };
    await this.db
      .insertInto('mailboxes')
      .values(row)
      .onConflict((oc) => oc.column('number').doUpdateSet(row))
      .execute();
    const wasEnabled = current.enabled;
    this.settings.set(number, next);
    if (wasEnabled !== next.enabled) for (const l of this.settingsListeners) l(number);
    return this.mailbox(number);
  }

  /** The PIN policy: digits only, long enough, not one digit repeated, not the mailbox number. */
  checkPin(number: string, pin: string): void {
    const min = this.opts().pinMinLength;
    if (!/^[0-9]+$/.test(pin)) throw new PbxError('invalid', 'A voicemail PIN is digits only (it is typed on a keypad)', 'voicemail_pin');
    if (pin.length < min || pin.length > 12) throw new PbxError('invalid', `A voicemail PIN has ${min} to 12 digits`, 'voicemail_pin');
    if (/^(\d)\1*$/.test(pin)) throw new PbxError('invalid', 'A voicemail PIN of one digit repeated is too easy to guess', 'voicemail_pin');
    if (pin === number || '0123456789012'.includes(pin) || '9876543210987'.includes(pin)) {
      throw new PbxError('invalid', 'A voicemail PIN may not be the mailbox number or a run of digits', 'voicemail_pin');
    }
  }

  async verifyPin(number: string, pin: string): Promise<boolean> {
    const hash = this.settings.get(number)?.pinHash;
    return !!hash && (await verifyPassword(pin, hash));
  }

  async list(mailbox: string, folder?: Folder): Promise<Message[]> {
    let q = this.db.selectFrom('voicemail_messages').selectAll().where('mailbox', '=', mailbox).orderBy('created_at', 'asc').orderBy('id', 'asc');
    if (folder) q = q.where('folder', '=', folder);
    return (await q.execute()).map(toMessage);
  }

  async get(id: string): Promise<Message | undefined> {
    const r = await this.db.selectFrom('voicemail_messages').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toMessage(r) : undefined;
  }

  async counts(mailbox: string): Promise<Counts> {
    const rows = await this.db
      .selectFrom('voicemail_messages')
      .select(['folder', (eb) => eb.fn.countAll<number>().as('n')])
      .where('mailbox', '=', mailbox)
      .groupBy('folder')
      .execute();
    const n = (f: Folder) => Number(rows.find((r) => r.folder === f)?.n ?? 0);
    return { new: n('new'), saved: n('saved') };
  }

  /** Every mailbox with a message, and its counts (for unsolicited MWI after a restart). */
  async allCounts(): Promise<Map<string, Counts>> {
    const rows = await this.db.selectFrom('voicemail_messages').select(['mailbox', 'folder', (eb) => eb.fn.countAll<number>().as('n')]).groupBy(['mailbox', 'folder']).execute();
    const out = new Map<string, Counts>();
    for (const r of rows) {
      const c = out.get(r.mailbox) ?? { new: 0, saved: 0 };
      c[r.folder] = Number(r.n);
      out.set(r.mailbox, c);
    }
    return out;
  }

  path(m: Pick<Message, 'mailbox' | 'file'>): string {
    return join(this.opts().dir, m.mailbox, m.file);
  }

  greetingPath(mailbox: string, which: Greeting): string {
    return join(this.opts().dir, mailbox, which === 'name' ? 'name.wav' : `greeting-${which}.wav`);
  }

  /** Starts a recording into the mailbox (a message, or with `greeting` one of its greetings). */
  record(mailbox: string, caller: string, callerName: string | null, greeting?: Greeting): Recording {
    const folder = join(this.opts().dir, mailbox);
    mkdirSync(folder, { recursive: true, mode: 0o750 });
    const id = `m-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
    const file = greeting ? this.greetingPath(mailbox, greeting) : join(folder, `${id}.wav`);
    const part = `${file}.${greeting ? randomBytes(4).toString('hex') + '.' : ''}part`;
    const createdAt = new Date().toISOString();
    let done = false;
    return {
      path: part,
      commit: async (samples) => {
        if (done) return null;
        done = true;
        const durationMs = Math.round((samples / SAMPLE_RATE) * 1000);
        if (durationMs < this.opts().minMessageMs) {
          rmSync(part, { force: true });
          return null;
        }
        renameSync(part, file);
        if (greeting) return null;
        const m: Message = { id, mailbox, caller, callerName, createdAt, durationMs, folder: 'new', file: `${id}.wav`, emailedAt: null };
        await this.db
          .insertInto('voicemail_messages')
          .values({ id, mailbox, caller, caller_name: callerName, created_at: createdAt, duration_ms: m.durationMs, folder: 'new', file: m.file, emailed_at: null })
          .execute();
        this.changed(mailbox);
        return m;
      },
      discard: () => {
        if (done) return;
        done = true;
        rmSync(part, { force: true });
      },
    };
  }

  /** Replaces a greeting (or the name) with uploaded audio: checked to be 8 kHz 16-bit mono WAV, written whole. */
  saveGreeting(mailbox: string, which: Greeting, wav: Buffer): number {
    let samples: Int16Array;
    try {
      samples = decodeWav(wav, `The ${which === 'name' ? 'name recording' : `${which} greeting`}`);
    } catch (err) {
      if (err instanceof WavFormatError) throw new PbxError('invalid', err.message, 'audio');
      throw err;
    }
    if (samples.length < SAMPLE_RATE / 2) throw new PbxError('invalid', 'A greeting shorter than half a second is too short to be one', 'audio');
    const file = this.greetingPath(mailbox, which);
    mkdirSync(dirname(file), { recursive: true, mode: 0o750 });
    const part = `${file}.${randomBytes(4).toString('hex')}.part`;
    writeFileSync(part, encodeWav(samples), { mode: 0o640 });
    renameSync(part, file);
    return samples.length;
  }

  /** Removes a greeting: callers hear the default one again. False when there was none. */
  removeGreeting(mailbox: string, which: Greeting): boolean {
    const file = this.greetingPath(mailbox, which);
    if (!existsSync(file)) return false;
    rmSync(file);
    return true;
  }

  async move(id: string, folder: Folder): Promise<Message> {
    const m = await this.require(id);
    if (m.folder === folder) return m;
    await this.db.updateTable('voicemail_messages').set({ folder }).where('id', '=', id).execute();
    this.changed(m.mailbox);
    return { ...m, folder };
  }

  /** Row first, then audio: a crash in between leaves audio without a row, removed at start-up. */
  async delete(id: string): Promise<Message> {
    const m = await this.require(id);
    await this.db.deleteFrom('voicemail_messages').where('id', '=', id).execute();
    rmSync(this.path(m), { force: true });
    this.changed(m.mailbox);
    return m;
  }

  /** Messages not mailed yet whose mailbox has an address. */
  async pendingEmails(): Promise<Message[]> {
    const rows = await this.db.selectFrom('voicemail_messages').selectAll().where('emailed_at', 'is', null).orderBy('created_at').execute();
    return rows.map(toMessage).filter((m) => !!this.mailbox(m.mailbox).email);
  }

  async markEmailed(id: string): Promise<void> {
    await this.db.updateTable('voicemail_messages').set({ emailed_at: new Date().toISOString() }).where('id', '=', id).execute();
  }

  private async require(id: string): Promise<Message> {
    const m = await this.get(id);
    if (!m) throw new PbxError('not_found', `No voicemail message ${id}`, 'id');
    return m;
  }
}

function toMessage(r: Selectable<VoicemailMessagesTable>): Message {
  return {
    id: r.id,
    mailbox: r.mailbox,
    caller: r.caller,
    callerName: r.caller_name,
    createdAt: r.created_at,
    durationMs: Number(r.duration_ms),
    folder: r.folder === 'saved' ? 'saved' : 'new',
    file: r.file,
    emailedAt: r.emailed_at,
  };
}
