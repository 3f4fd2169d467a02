// Message waiting (RFC 3842 message-summary over RFC 6665 SUBSCRIBE/NOTIFY): a phone
// subscribes to its own mailbox and gets a NOTIFY at once and on every change; a phone
// that does not subscribe gets unsolicited NOTIFYs (out of dialog, as Asterisk sends them)
// at its registered contacts when its mailbox changes or it registers.
import type { Logger } from '../../log.js';
import { makeResponse, type SipRequest } from '../../sip/message.js';
import { Dialog, dialogKey } from '../../sip/dialog.js';
import { addressUri, inDialogRequest, outOfDialogRequest, type SentBy } from '../../sip/requests.js';
import { newTag } from '../../sip/ids.js';
import type { SipStack } from '../../sip/stack.js';
import type { Flow } from '../../sip/transport.js';
import type { ServerTransaction } from '../../sip/transactions/server.js';
import type { SubscriptionHandler } from '../../pbx/sip-service.js';
import type { Location } from '../../pbx/location.js';
import { flowToBinding } from '../../pbx/reach.js';
import type { Counts } from './store.js';

export const MESSAGE_SUMMARY = 'message-summary';

interface Subscription {
  dialog: Dialog;
  flow: Flow;
  mailbox: string;
  expiresAt: number;
  timer: NodeJS.Timeout;
}

export interface MwiOptions {
  advertise: (transport: string) => SentBy;
  /** The number phones dial for their mailbox (Message-Account). */
  accessCode: string;
  host: string;
  minExpires: number;
  maxExpires: number;
}

/** The NOTIFY body (RFC 3842 §5.2). */
export function summaryBody(counts: Counts, account: string): string {
  return `Messages-Waiting: ${counts.new > 0 ? 'yes' : 'no'}\r\nMessage-Account: ${account}\r\nVoice-Message: ${counts.new}/${counts.saved}\r\n`;
}

export class MessageWaiting implements SubscriptionHandler {
  readonly events = [MESSAGE_SUMMARY];
  private readonly subs = new Map<string, Subscription>();
  /** The same subscriptions by mailbox: a REGISTER asks whether its mailbox has one (10,000 phones subscribe). */
  private readonly byMailbox = new Map<string, Set<Subscription>>();
  readonly counters = { subscriptions: 0, notifies: 0, unsolicited: 0 };

  constructor(
    private readonly stack: SipStack,
    private readonly location: Location,
    private readonly counts: (mailbox: string) => Promise<Counts>,
    private readonly hasMailbox: (number: string) => boolean,
    private readonly opts: () => MwiOptions,
    private readonly log: Logger,
  ) {}

  get active(): number {
    return this.subs.size;
  }

  subscribe(req: SipRequest, server: ServerTransaction, flow: Flow, subscriber: string): boolean {
    const mailbox = req.requestUri.user ?? subscriber;
    // A phone watches its own mailbox only.
    if (mailbox !== subscriber) return false;
    if (!this.hasMailbox(mailbox)) {
      server.respond(makeResponse(req, 404, 'Not Found: no mailbox'));
      return true;
    }
    const o = this.opts();
    const asked = Number(req.get('expires') ?? 3600);
    if (asked > 0 && asked < o.minExpires) {
      server.respond(makeResponse(req, 423, 'Interval Too Brief', undefined, [{ name: 'min-expires', value: String(o.minExpires) }]));
      return true;
    }
    const expires = Math.min(Number.isFinite(asked) ? asked : 3600, o.maxExpires);
    const tag = newTag();
    const dialog = Dialog.uas(req, tag);
    server.respond(
      makeResponse(req, 200, 'OK', tag, [
        { name: 'expires', value: String(expires) },
        { name: 'contact', value: `<${addressUri(o.advertise(flow.transport))}>` },
      ]),
    );
    if (expires === 0) {
      // A fetch (RFC 6665 §4.4.3): one NOTIFY with the state, and the subscription ends.
      void this.notifyIn(dialog, flow, mailbox, 'terminated;reason=timeout');
      return true;
    }
    const sub: Subscription = { dialog, flow, mailbox, expiresAt: Date.now() + expires * 1000, timer: this.expiry(dialog.key, expires) };
    this.add(sub);
    this.counters.subscriptions++;
    this.log.info({ mailbox, ip: flow.remoteAddress, expires }, `Message-waiting subscription from ${mailbox} (${expires} s)`);
    void this.notifyIn(dialog, flow, mailbox, `active;expires=${expires}`);
    return true;
  }

  inDialog(req: SipRequest, server: ServerTransaction | null, flow: Flow): boolean {
    if (req.method !== 'SUBSCRIBE') return false;
    const sub = this.subs.get(dialogKey(req.callId, req.to.params.get('tag') ?? '', req.from.params.get('tag') ?? ''));
    if (!sub || !server) return false;
    if (!sub.dialog.receiveRequest(req).ok) {
      server.respond(makeResponse(req, 500, 'Server Internal Error: CSeq out of order'));
      return true;
    }
    sub.flow = flow;
    const o = this.opts();
    const expires = Math.min(Number(req.get('expires') ?? 3600), o.maxExpires);
    server.respond(makeResponse(req, 200, 'OK', undefined, [{ name: 'expires', value: String(expires) }]));
    clearTimeout(sub.timer);
    if (expires <= 0) {
      this.remove(sub.dialog.key);
      void this.notifyIn(sub.dialog, flow, sub.mailbox, 'terminated;reason=timeout').then(() => sub.dialog.terminate());
      return true;
    }
    sub.expiresAt = Date.now() + expires * 1000;
    sub.timer = this.expiry(sub.dialog.key, expires);
    void this.notifyIn(sub.dialog, flow, sub.mailbox, `active;expires=${expires}`);
    return true;
  }

  /** The mailbox changed: its subscribers get a NOTIFY; without one, its phones get an unsolicited one. */
  async changed(mailbox: string): Promise<void> {
    const subs = [...(this.byMailbox.get(mailbox) ?? [])];
    if (subs.length > 0) {
      for (const s of subs) await this.notifyIn(s.dialog, s.flow, mailbox, `active;expires=${Math.max(0, Math.round((s.expiresAt - Date.now()) / 1000))}`);
      return;
    }
    await this.unsolicited(mailbox);
  }

  /** A phone registered: it learns its mailbox state if it does not subscribe. */
  async registered(mailbox: string): Promise<void> {
    // Only a phone with a mailbox has a lamp to light (no database read for the others).
    if (!this.hasMailbox(mailbox) || this.byMailbox.has(mailbox)) return;
    const c = await this.counts(mailbox);
    if (c.new + c.saved > 0) await this.unsolicited(mailbox, c);
  }

  stop(): void {
    for (const s of this.subs.values()) clearTimeout(s.timer);
    this.subs.clear();
    this.byMailbox.clear();
  }

  private add(sub: Subscription): void {
    this.remove(sub.dialog.key);
    this.subs.set(sub.dialog.key, sub);
    let set = this.byMailbox.get(sub.mailbox);
    if (!set) this.byMailbox.set(sub.mailbox, (set = new Set()));
    set.add(sub);
  }

  private remove(key: string): void {
    const sub = this.subs.get(key);
    if (!sub) return;
    this.subs.delete(key);
    const set = this.byMailbox.get(sub.mailbox);
    set?.delete(sub);
    if (set?.size === 0) this.byMailbox.delete(sub.mailbox);
  }

  private expiry(key: string, seconds: number): NodeJS.Timeout {
    const t = setTimeout(() => {
      const s = this.subs.get(key);
      if (!s) return;
      this.remove(key);
      void this.notifyIn(s.dialog, s.flow, s.mailbox, 'terminated;reason=timeout').then(() => s.dialog.terminate());
    }, seconds * 1000);
    t.unref();
    return t;
  }

  private account(): string {
    const o = this.opts();
    return `sip:${o.accessCode}@${o.host}`;
  }

  private async notifyIn(dialog: Dialog, flow: Flow, mailbox: string, state: string): Promise<void> {
    if (dialog.terminated) return;
    const counts = await this.counts(mailbox);
    const o = this.opts();
    const req = inDialogRequest(dialog, 'NOTIFY', {
      via: o.advertise(flow.transport),
      contact: `<${addressUri(o.advertise(flow.transport))}>`,
      headers: [
        { name: 'event', value: MESSAGE_SUMMARY },
        { name: 'subscription-state', value: state },
        { name: 'content-type', value: 'application/simple-message-summary' },
      ],
      body: summaryBody(counts, this.account()),
    });
    this.counters.notifies++;
    this.stack.sendRequest(req, flow, {
      response: (res) => {
        if (res.status === 481 || res.status === 408) this.drop(dialog);
      },
      timeout: () => this.drop(dialog),
      transportError: () => this.drop(dialog),
    });
  }

  private drop(dialog: Dialog): void {
    const s = this.subs.get(dialog.key);
    if (s) clearTimeout(s.timer);
    this.remove(dialog.key);
    dialog.terminate();
  }

  private async unsolicited(mailbox: string, known?: Counts): Promise<void> {
    const bindings = this.location.lookup(mailbox);
    if (bindings.length === 0) return;
    const counts = known ?? (await this.counts(mailbox));
    const o = this.opts();
    for (const b of bindings) {
      const flow = flowToBinding(this.stack, b);
      if (!flow) continue;
      const sentBy = o.advertise(flow.transport);
      const aor = `sip:${mailbox}@${o.host}`;
      const req = outOfDialogRequest({
        method: 'NOTIFY',
        uri: b.contact,
        from: aor,
        to: aor,
        via: sentBy,
        route: b.path ?? [],
        contact: `<${addressUri(sentBy)}>`,
        headers: [
          { name: 'event', value: MESSAGE_SUMMARY },
          { name: 'subscription-state', value: 'active' },
          { name: 'content-type', value: 'application/simple-message-summary' },
        ],
        body: summaryBody(counts, this.account()),
      });
      this.counters.unsolicited++;
      this.stack.sendRequest(req, flow, { response: () => {}, timeout: () => {}, transportError: () => {} });
    }
  }
}
