// Voicemail: a mailbox per extension. Calls that reach nobody (no answer in time, busy,
// not registered) are answered by the pbx's service agent and recorded; *97/*98 open a
// mailbox; the phones' message-waiting lamps follow every change.
import type { Logger } from '../../log.js';
import type { PbxConfig } from '../../config/schema.js';
import type { Db } from '../../storage/database.js';
import type { SipRequest } from '../../sip/message.js';
import type { SipStack } from '../../sip/stack.js';
import type { Flow } from '../../sip/transport.js';
import type { ServerTransaction } from '../../sip/transactions/server.js';
import type { SentBy } from '../../sip/requests.js';
import type { Call, Calls } from '../../pbx/calls.js';
import type { Location } from '../../pbx/location.js';
import type { Unreached } from '../../pbx/proxy.js';
import { recorded } from '../../pbx/sip-service.js';
import type { ServiceAgent, ServiceApp } from '../../pbx/service-agent.js';
import { depositApp } from './deposit.js';
import { MessageWaiting } from './mwi.js';
import { Prompts } from './prompts.js';
import { retrievalApp } from './retrieval.js';
import { VoicemailStore, type Message } from './store.js';
import { VoicemailMailer, type SmtpSettings } from './mailer.js';

export interface VoicemailDeps {
  db: Db;
  stack: SipStack;
  location: Location;
  agent: ServiceAgent;
  calls: Calls;
  config: () => PbxConfig;
  isExtension: (number: string) => boolean;
  advertise: (transport: string) => SentBy;
  /** Three wrong PINs count like a failed SIP authentication (the ban). */
  onPinFailure: (ip: string, mailbox: string) => void;
  /** voicemail.smtp with its password opened. */
  smtp: () => SmtpSettings;
  log: Logger;
}

export class Voicemail {
  readonly store: VoicemailStore;
  readonly prompts: Prompts;
  readonly mwi: MessageWaiting;
  readonly mailer: VoicemailMailer;
  private readonly listeners: ((m: Message) => void)[] = [];
  readonly counters = { messagesLeft: 0 };

  constructor(private readonly d: VoicemailDeps) {
    const vm = () => d.config().voicemail;
    this.store = new VoicemailStore(d.db, () => ({ dir: vm().dir, enabledByDefault: vm().enabled, minMessageMs: 1000, pinMinLength: vm().pin_min_length }));
    this.prompts = new Prompts(
      () => vm().prompts_dir,
      (file, problem) => d.log.warn({ file }, `Voicemail prompt ${file} cannot be played (${problem}); the built-in one is used`),
    );
    this.mwi = new MessageWaiting(
      d.stack,
      d.location,
      (mailbox) => this.store.counts(mailbox),
      (n) => this.hasMailbox(n),
      () => {
        const c = d.config();
        return { advertise: d.advertise, accessCode: c.voicemail.access_code, host: c.server.external_ip, minExpires: 60, maxExpires: 7200 };
      },
      d.log,
    );
    this.mailer = new VoicemailMailer(this.store, () => d.smtp(), d.log);
    this.onMessage((m) => {
      this.counters.messagesLeft++;
      this.mailer.enqueue(m);
    });
    // Every change (a new message, one heard, saved or deleted, from a phone, the API or the
    // web) lights or puts out the lamp.
    this.store.onChange((mailbox) => void this.mwi.changed(mailbox).catch((err: unknown) => d.log.warn({ err, mailbox }, 'Message-waiting notification failed')));
    d.location.onChange((event, b) => {
      if (event === 'registered') void this.mwi.registered(b.aor).catch(() => {});
    });
  }

  async load(): Promise<void> {
    const r = await this.store.load();
    await this.mailer.resume();
    if (r.removedFiles || r.droppedRows) {
      this.d.log.warn(r, `Voicemail: ${r.removedFiles} unfinished recording(s) removed and ${r.droppedRows} message(s) without audio dropped (the server stopped during a recording)`);
    }
  }

  hasMailbox(number: string): boolean {
    return this.d.isExtension(number) && this.store.mailbox(number).enabled;
  }

  /** A message was left (for email, metrics). */
  onMessage(listener: (m: Message) => void): void {
    this.listeners.push(listener);
  }

  /** The feature codes: *97 own mailbox, *98 any mailbox. */
  serviceFor(dialled: string, caller: string): ServiceApp | undefined {
    const c = this.d.config().voicemail;
    if (dialled === c.access_code) return this.hasMailbox(caller) ? this.retrieval(true) : undefined;
    if (dialled === c.any_mailbox_code) return this.retrieval(false);
    return undefined;
  }

  /** The proxy's fallback: a call to an extension that reached nobody goes to its mailbox. */
  divert(req: SipRequest, server: ServerTransaction, flow: Flow, call: Call, reason: Unreached): boolean {
    const mailbox = call.callee;
    if (!this.hasMailbox(mailbox)) return false;
    const c = this.d.config().voicemail;
    const app = depositApp(
      mailbox,
      reason === 'busy' ? 'busy' : 'unavailable',
      this.store,
      this.prompts,
      () => ({ maxMessageSeconds: c.max_message_seconds, silenceSeconds: c.silence_seconds, maxMessages: c.max_messages }),
      this.d.log,
      (m) => this.listeners.forEach((l) => l(m)),
    );
    this.d.log.info({ call_id: req.callId, caller: call.caller, mailbox, reason }, `Call ${call.caller} → ${mailbox}: ${reason.replace('_', ' ')}, to voicemail`);
    this.d.agent.answer(
      req,
      server,
      flow,
      { callId: req.callId, caller: call.caller, callerName: req.from.display ?? null, dialled: mailbox, sourceAddress: flow.remoteAddress },
      recorded(this.d.calls, call, app, 'voicemail'),
      (status) => this.d.calls.end(call, status === 487 ? 'cancelled' : 'failed', status, null),
    );
    return true;
  }

  stop(): void {
    this.mwi.stop();
    this.mailer.stop();
  }

  private retrieval(own: boolean): ServiceApp {
    return retrievalApp(
      {
        store: this.store,
        prompts: this.prompts,
        opts: () => ({ timeZone: this.d.config().provisioning.site.timezone, silenceSeconds: this.d.config().voicemail.silence_seconds }),
        log: this.d.log,
        isMailbox: (n) => this.hasMailbox(n),
        onPinFailure: this.d.onPinFailure,
      },
      own,
    );
  }
}
