// Talking with a caller over a service session: prompts in a row (a key press cuts them
// short, as on every voicemail system), digits collected up to '#' or a pause, tones,
// and recordings after the tone.
import type { RecordResult } from '../../media/engine.js';
import { SAMPLE_RATE } from '../../media/wav.js';
import type { ServiceSession } from '../../pbx/service-agent.js';
import type { Prompts } from './prompts.js';
import type { Recording } from './store.js';

/** How long a recording may go on: at most `maxSeconds`, and `silenceSeconds` of quiet ends it. */
export interface RecordingLimits {
  maxSeconds: number;
  silenceSeconds: number;
}

/** Plays the prompts one after another; stops at the first key press, which is kept for `digits`. */
export class Dialogue {
  private readonly typed: string[] = [];
  private wake: (() => void) | null = null;

  constructor(
    readonly session: ServiceSession,
    private readonly prompts: Prompts,
  ) {
    session.onDigit((d) => {
      this.typed.push(d);
      this.session.stopPlaying();
      const w = this.wake;
      this.wake = null;
      w?.();
    });
  }

  get ended(): boolean {
    return this.session.isEnded;
  }

  /** Plays the named prompts; false when a key was pressed (or the call ended) before the end. */
  async say(...names: string[]): Promise<boolean> {
    for (const name of names) {
      if (this.ended || this.typed.length > 0) return false;
      await this.session.play(this.prompts.get(name));
    }
    return !this.ended && this.typed.length === 0;
  }

  /** Plays audio (a message, a greeting); a key press stops it. */
  async play(samples: Int16Array): Promise<boolean> {
    if (this.ended || this.typed.length > 0) return false;
    await this.session.play(samples);
    return !this.ended && this.typed.length === 0;
  }

  /** A tone (the beep before recording). */
  async tone(hz = 1000, ms = 400): Promise<void> {
    await this.session.play(sine(hz, ms));
  }

  /**
   * The tone, then the caller's audio into `recording` until hang-up, '#', a silence or
   * the length limit. The recording is not committed: the caller decides (a message, a
   * greeting). Keys typed before the tone are dropped; the '#' that ends it is not kept.
   */
  async record(recording: Recording, limits: RecordingLimits): Promise<RecordResult> {
    this.clearKeys();
    await this.tone();
    if (this.ended) {
      recording.discard();
      return { samples: 0, endedBy: 'hang-up' };
    }
    try {
      const result = await this.session.record(recording.path, { ...limits, stopDigits: '#' });
      this.clearKeys();
      return result;
    } catch (err) {
      recording.discard();
      throw err;
    }
  }

  /** One key, waiting at most `timeoutMs`; null on timeout or hang-up. */
  async key(timeoutMs: number): Promise<string | null> {
    if (this.typed.length === 0) await this.waitForKey(timeoutMs);
    return this.typed.shift() ?? null;
  }

  /**
   * Digits up to '#' (not included) or `max` of them; null when nothing came within
   * `timeoutMs` of the last key, or the caller hung up. '*' alone is returned as '*'.
   */
  async digits(max: number, timeoutMs = 6000): Promise<string | null> {
    let got = '';
    for (;;) {
      const k = await this.key(timeoutMs);
      if (k === null) return got.length > 0 && !this.ended ? got : null;
      if (k === '#') return got;
      if (k === '*' && got === '') return '*';
      got += k;
      if (got.length >= max) return got;
    }
  }

  /** Drops keys typed so far (before a question whose answer must come after it). */
  clearKeys(): void {
    this.typed.length = 0;
  }

  private waitForKey(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      const ended = this.session.ended.then(done);
      void ended;
      let finished = false;
      function done() {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}

function sine(hz: number, ms: number): Int16Array {
  const n = Math.round((SAMPLE_RATE * ms) / 1000);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.round(Math.sin((2 * Math.PI * hz * i) / SAMPLE_RATE) * 12000);
  return out;
}
