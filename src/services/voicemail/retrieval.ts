// Listening to messages: *97 (own mailbox) or *98 (any mailbox: its number first), the PIN
// (three wrong ones hang up and count as an authentication failure for the ban), then new
// messages and saved ones, each introduced by its caller and time, with the menu
// 7 delete, 9 save, # next, 4 previous, 5 repeat, 0 mailbox options (greetings, name, PIN).
// A new message that was played to its end is saved (heard).
import { readWav } from '../../media/wav.js';
import type { ServiceApp } from '../../pbx/service-agent.js';
import type { Logger } from '../../log.js';
import { PbxError } from '../../pbx/errors.js';
import { Dialogue } from './dialogue.js';
import { digitWords, numberWords, whenWords, type Prompts } from './prompts.js';
import type { Greeting, Message, VoicemailStore } from './store.js';

export interface RetrievalOptions {
  timeZone: string;
  silenceSeconds: number;
}

export interface RetrievalDeps {
  store: VoicemailStore;
  prompts: Prompts;
  opts: () => RetrievalOptions;
  log: Logger;
  isMailbox: (number: string) => boolean;
  /** Three wrong PINs: the same evidence as a failed SIP authentication. */
  onPinFailure: (ip: string, mailbox: string) => void;
}

const MAX_PIN_TRIES = 3;

/** `own`: the caller's mailbox (*97); otherwise the caller names one (*98). */
export function retrievalApp(deps: RetrievalDeps, own: boolean): ServiceApp {
  return async (session) => {
    const { store, prompts, log } = deps;
    const d = new Dialogue(session, prompts);
    let mailbox = own ? session.call.caller : '';
    if (!own) {
      for (let tries = 0; tries < 3 && !mailbox; tries++) {
        await d.say('enter-mailbox');
        const typed = await d.digits(10);
        if (typed === null) return;
        if (deps.isMailbox(typed)) mailbox = typed;
      }
      if (!mailbox) return void (await d.say('goodbye'));
    }
    if (!store.mailbox(mailbox).hasPin) return void (await d.say('no-pin'));
    let ok = false;
    for (let tries = 0; tries < MAX_PIN_TRIES && !ok; tries++) {
      await d.say('enter-pin');
      const pin = await d.digits(12);
      if (pin === null) return;
      ok = await store.verifyPin(mailbox, pin);
      if (!ok) await d.say('wrong-pin');
    }
    if (!ok) {
      log.warn({ mailbox, caller: session.call.caller, ip: session.call.sourceAddress }, `Voicemail: ${MAX_PIN_TRIES} wrong PINs for mailbox ${mailbox} from ${session.call.sourceAddress}; hanging up`);
      deps.onPinFailure(session.call.sourceAddress, mailbox);
      await d.say('goodbye');
      return;
    }
    log.info({ mailbox, caller: session.call.caller }, `Voicemail: mailbox ${mailbox} opened by ${session.call.caller}`);
    await new Menu(d, deps, mailbox).run();
  };
}

class Menu {
  constructor(
    private readonly d: Dialogue,
    private readonly deps: RetrievalDeps,
    private readonly mailbox: string,
  ) {}

  async run(): Promise<void> {
    const { store } = this.deps;
    const fresh = await store.list(this.mailbox, 'new');
    const saved = await store.list(this.mailbox, 'saved');
    const messages: Message[] = [...fresh, ...saved];
    if (messages.length === 0) await this.d.say('no-messages');
    else {
      await this.d.say('you-have', ...numberWords(Math.min(fresh.length, 99)), fresh.length === 1 ? 'new-message' : 'new-messages');
      if (saved.length > 0) await this.d.say(...numberWords(Math.min(saved.length, 99)), saved.length === 1 ? 'saved-message' : 'saved-messages');
    }
    let i = 0;
    while (!this.d.ended) {
      if (i >= messages.length) {
        if (messages.length > 0) await this.d.say('no-more');
        const k = await this.askMenu();
        if (k === null) return;
        if (k === '0') await this.options();
        else if (k === '4' && messages.length > 0) i = messages.length - 1;
        else if (k === '#' || k === '*') return void (await this.d.say('goodbye'));
        continue;
      }
      const m = messages[i]!;
      const heard = await this.playMessage(i, m);
      if (heard && m.folder === 'new') messages[i] = await store.move(m.id, 'saved');
      const k = await this.askMenu();
      if (k === null) return;
      switch (k) {
        case '7':
          await store.delete(m.id);
          messages.splice(i, 1);
          await this.d.say('deleted');
          break;
        case '9':
          if (messages[i]!.folder === 'new') messages[i] = await store.move(m.id, 'saved');
          await this.d.say('saved');
          i++;
          break;
        case '4':
          i = Math.max(0, i - 1);
          break;
        case '5':
          break;
        case '0':
          await this.options();
          break;
        default:
          i++;
      }
    }
  }

  /** Announcement then audio; true when the audio was played to its end. */
  private async playMessage(index: number, m: Message): Promise<boolean> {
    const caller = /^[0-9*#+]+$/.test(m.caller) ? digitWords(m.caller.replace(/^\+/, '')) : ['unknown-caller'];
    await this.d.say('message', ...numberWords(Math.min(index + 1, 99)), 'from', ...caller, ...whenWords(m.createdAt, this.deps.opts().timeZone));
    return this.d.play(readWav(this.deps.store.path(m)));
  }

  /** The menu prompt, then one key (a key pressed during the prompt counts). */
  private async askMenu(): Promise<string | null> {
    await this.d.say('menu');
    for (let tries = 0; tries < 3; tries++) {
      const k = await this.d.key(8000);
      if (k !== null) return k;
      if (this.d.ended) return null;
      await this.d.say('menu');
    }
    return null;
  }

  private async options(): Promise<void> {
    for (;;) {
      await this.d.say('options');
      const k = await this.d.key(8000);
      if (k === null || k === '*') return;
      const which: Greeting | null = k === '1' ? 'unavailable' : k === '2' ? 'busy' : k === '3' ? 'name' : null;
      if (which) await this.recordGreeting(which);
      else if (k === '4') await this.changePin();
    }
  }

  private async recordGreeting(which: Greeting): Promise<void> {
    const { store, log } = this.deps;
    await this.d.say('record-after-tone');
    const rec = store.record(this.mailbox, this.mailbox, null, which);
    const result = await this.d.record(rec, { maxSeconds: 60, silenceSeconds: this.deps.opts().silenceSeconds });
    await rec.commit(result.samples);
    log.info({ mailbox: this.mailbox, greeting: which }, `Voicemail: mailbox ${this.mailbox} recorded its ${which === 'name' ? 'name' : `${which} greeting`}`);
    await this.d.say('recorded');
  }

  private async changePin(): Promise<void> {
    await this.d.say('new-pin');
    const pin = await this.d.digits(12);
    if (pin === null || pin === '*') return;
    try {
      await this.deps.store.updateMailbox(this.mailbox, { pin });
      this.deps.log.info({ mailbox: this.mailbox }, `Voicemail: mailbox ${this.mailbox} changed its PIN`);
      await this.d.say('pin-changed');
    } catch (err) {
      if (!(err instanceof PbxError)) throw err;
      await this.d.say('pin-too-short');
    }
  }
}
