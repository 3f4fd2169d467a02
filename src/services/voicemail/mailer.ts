// New messages by email: the WAV attached (unless the mailbox says not to), to the mailbox's
// address, over voicemail.smtp (nodemailer). A message is mailed once: `emailed_at` is set
// when the server accepted it. A mail server that is down loses nothing: the message waits
// in the database and is tried again with growing pauses (and after a restart); each
// failure is logged.
import nodemailer, { type Transporter } from 'nodemailer';
import type { Logger } from '../../log.js';
import type { Message, VoicemailStore } from './store.js';

export interface SmtpSettings {
  host: string;
  port: number;
  secure: boolean;
  user: string;
  /** Clear text (opened from its sealed form by the composition root). */
  password: string;
  from: string;
}

const FIRST_RETRY_MS = 2000;
const MAX_RETRY_MS = 10 * 60_000;

export class VoicemailMailer {
  private readonly queue = new Map<string, { message: Message; attempts: number; timer?: NodeJS.Timeout }>();
  private transport: { key: string; t: Transporter } | undefined;
  private stopped = false;
  readonly counters = { sent: 0, failed: 0 };

  constructor(
    private readonly store: VoicemailStore,
    private readonly smtp: () => SmtpSettings,
    private readonly log: Logger,
  ) {}

  /** Messages left while mail could not go (or before a restart) are queued again. */
  async resume(): Promise<void> {
    for (const m of await this.store.pendingEmails()) this.enqueue(m);
  }

  /** A new message: mailed if its mailbox has an address and a mail server is set. */
  enqueue(message: Message): void {
    if (this.stopped || !this.smtp().host || !this.store.mailbox(message.mailbox).email || this.queue.has(message.id)) return;
    this.queue.set(message.id, { message, attempts: 0 });
    void this.attempt(message.id);
  }

  get pending(): number {
    return this.queue.size;
  }

  stop(): void {
    this.stopped = true;
    for (const q of this.queue.values()) clearTimeout(q.timer);
    this.queue.clear();
    this.transport?.t.close();
  }

  private async attempt(id: string): Promise<void> {
    const q = this.queue.get(id);
    if (!q || this.stopped) return;
    q.attempts++;
    const m = q.message;
    const box = this.store.mailbox(m.mailbox);
    if (!box.email) {
      this.queue.delete(id);
      return;
    }
    const seconds = (m.durationMs / 1000).toFixed(0);
    try {
      await this.transporter().sendMail({
        from: this.from(),
        to: box.email,
        subject: `New voicemail from ${m.callerName ? `${m.callerName} (${m.caller})` : m.caller} (${seconds} s)`,
        text: `${m.callerName ? `${m.callerName} (${m.caller})` : m.caller} left a message of ${seconds} seconds for extension ${m.mailbox} at ${m.createdAt}.\n`,
        attachments: box.attachAudio ? [{ filename: `voicemail-${m.mailbox}-${m.id}.wav`, path: this.store.path(m), contentType: 'audio/wav' }] : [],
      });
      this.queue.delete(id);
      this.counters.sent++;
      await this.store.markEmailed(m.id);
      this.log.info({ mailbox: m.mailbox, id: m.id, to: box.email, attempts: q.attempts }, `✓ Voicemail ${m.id} for ${m.mailbox} mailed to ${box.email}`);
      if (box.deleteAfterEmail) await this.store.delete(m.id);
    } catch (err) {
      this.counters.failed++;
      const wait = Math.min(FIRST_RETRY_MS * 2 ** (q.attempts - 1), MAX_RETRY_MS);
      this.log.warn(
        { mailbox: m.mailbox, id: m.id, attempts: q.attempts, retry_in_seconds: wait / 1000, error: (err as Error).message },
        `Mailing voicemail ${m.id} for ${m.mailbox} failed (${(err as Error).message}); trying again in ${wait / 1000} s`,
      );
      q.timer = setTimeout(() => void this.attempt(id), wait);
      q.timer.unref();
    }
  }

  private from(): string {
    const s = this.smtp();
    return s.from || `voicemail@${s.host}`;
  }

  private transporter(): Transporter {
    const s = this.smtp();
    const key = JSON.stringify([s.host, s.port, s.secure, s.user, s.password]);
    if (this.transport?.key !== key) {
      this.transport?.t.close();
      this.transport = {
        key,
        t: nodemailer.createTransport({
          host: s.host,
          port: s.port,
          secure: s.secure,
          ...(s.user ? { auth: { user: s.user, pass: s.password } } : {}),
          connectionTimeout: 10_000,
          greetingTimeout: 10_000,
          socketTimeout: 30_000,
        }),
      };
    }
    return this.transport.t;
  }
}
