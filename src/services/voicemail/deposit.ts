// Leaving a message: the mailbox's greeting (the one its owner recorded for this case, or
// "The person at extension 2001 is not available" with the recorded name when there is
// one), a tone, then the caller's audio to disk until they hang up, press '#', stay
// silent for voicemail.silence_seconds, or reach voicemail.max_message_seconds. Messages
// under a second are dropped (a hang-up at the tone).
import { existsSync } from 'node:fs';
import { readWav } from '../../media/wav.js';
import type { ServiceApp } from '../../pbx/service-agent.js';
import type { Logger } from '../../log.js';
import { Dialogue } from './dialogue.js';
import { digitWords, type Prompts } from './prompts.js';
import type { Message, VoicemailStore } from './store.js';

export type DepositReason = 'unavailable' | 'busy';

export interface DepositOptions {
  maxMessageSeconds: number;
  silenceSeconds: number;
  maxMessages: number;
}

export function depositApp(
  mailbox: string,
  reason: DepositReason,
  store: VoicemailStore,
  prompts: Prompts,
  opts: () => DepositOptions,
  log: Logger,
  onMessage: (m: Message) => void,
): ServiceApp {
  return async (session) => {
    const d = new Dialogue(session, prompts);
    const o = opts();
    const counts = await store.counts(mailbox);
    const limit = store.mailbox(mailbox).maxMessages ?? o.maxMessages;
    if (counts.new + counts.saved >= limit) {
      log.warn({ mailbox, caller: session.call.caller }, `Mailbox ${mailbox} is full (${limit} messages): no message taken`);
      await d.say('mailbox-full');
      return;
    }
    // The greeting: a key press skips it (callers who know the system press '#').
    const own = store.greetingPath(mailbox, reason);
    if (existsSync(own)) await d.play(readWav(own));
    else {
      const name = store.greetingPath(mailbox, 'name');
      if (await d.say('extension')) {
        if (existsSync(name)) await d.play(readWav(name));
        else await d.say(...digitWords(mailbox));
      }
      await d.say(reason === 'busy' ? 'busy' : 'unavailable');
    }
    await d.say('leave-message');
    if (session.isEnded) return;

    const recording = store.record(mailbox, session.call.caller, session.call.callerName);
    const result = await d.record(recording, { maxSeconds: o.maxMessageSeconds, silenceSeconds: o.silenceSeconds });
    const why = result.endedBy === 'key' ? '#' : result.endedBy;
    const message = await recording.commit(result.samples);
    if (!message) {
      const ms = Math.round(result.samples / 8);
      log.info({ mailbox, caller: session.call.caller, ms }, `Message for ${mailbox} from ${session.call.caller} too short: discarded`);
    } else {
      log.info(
        { mailbox, caller: session.call.caller, id: message.id, duration_ms: message.durationMs, ended_by: why },
        `✓ Voicemail from ${session.call.caller} for ${mailbox} recorded (${(message.durationMs / 1000).toFixed(1)} s, ended by ${why})`,
      );
      onMessage(message);
    }
    if (!session.isEnded) await new Dialogue(session, prompts).say('goodbye');
  };
}
