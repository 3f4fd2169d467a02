// The spoken prompts: WAV files (8 kHz, 16-bit, mono) built into the repository
// (prompts/<lang>/, made by scripts/make-prompts.sh) or an admin's replacement of the same
// name in voicemail.prompts_dir. Loaded once and kept: a prompt is played to many callers.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { readWav } from '../../media/wav.js';

const BUILT_IN = fileURLToPath(new URL('./prompts/en/', import.meta.url));

export class Prompts {
  private readonly cache = new Map<string, Int16Array>();

  constructor(
    private readonly overrideDir: () => string,
    /** An admin's file that cannot be played (the built-in prompt is used instead). */
    private readonly onBadFile: (file: string, problem: string) => void = () => {},
  ) {}

  /** A prompt's samples; throws for a name that has no file (a programming mistake). */
  get(name: string): Int16Array {
    const dir = this.overrideDir();
    const key = `${dir}|${name}`;
    let samples = this.cache.get(key);
    if (!samples) {
      const custom = dir ? join(dir, `${name}.wav`) : '';
      if (custom && existsSync(custom)) {
        try {
          samples = readWav(custom);
        } catch (err) {
          this.onBadFile(custom, (err as Error).message);
        }
      }
      samples ??= readWav(join(BUILT_IN, `${name}.wav`));
      this.cache.set(key, samples);
    }
    return samples;
  }

  /** Forget loaded prompts (the override folder changed). */
  reset(): void {
    this.cache.clear();
  }
}

/** The prompt names that say a number from 0 to 99 ("forty", "two"). */
export function numberWords(n: number): string[] {
  if (n < 20) return [`n${n}`];
  const tens = Math.floor(n / 10) * 10;
  return n % 10 === 0 ? [`n${tens}`] : [`n${tens}`, `n${n % 10}`];
}

/** Each character of a number as a word ("2", "0", "0", "1"; star, pound). */
export function digitWords(text: string): string[] {
  return [...text].flatMap((c) => (c >= '0' && c <= '9' ? [`n${c}`] : c === '*' ? ['star'] : c === '#' ? ['pound'] : []));
}

/** "received March 4, at 2 15 P M": when a message came, in the mailbox's time zone. */
export function whenWords(iso: string, timeZone: string): string[] {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', hour12: true }).formatToParts(new Date(iso));
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  const minute = Number(get('minute'));
  return [
    'received',
    `month${Number(get('month'))}`,
    ...numberWords(Number(get('day'))),
    ...numberWords(Number(get('hour'))),
    ...(minute === 0 ? [] : minute < 10 ? ['n0', `n${minute}`] : numberWords(minute)),
    get('dayPeriod').toLowerCase().startsWith('p') ? 'pm' : 'am',
  ];
}
