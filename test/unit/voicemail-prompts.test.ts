// The built-in prompts are real audio in the format the media layer plays, every name the
// voicemail code says exists, and an admin's file of the same name replaces one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Prompts, digitWords, numberWords, whenWords } from '../../src/services/voicemail/prompts.ts';
import { tempDir } from '../helpers/server.ts';
import { writeToneWav } from '../helpers/audio.ts';

const BUILT_IN = join(import.meta.dirname, '../../src/services/voicemail/prompts/en');

test('every prompt named in prompts.txt is a WAV of speech (8 kHz, 16-bit, mono, at least 0.2 s, not silent)', () => {
  const names = readFileSync(join(BUILT_IN, 'prompts.txt'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split('|')[0]!);
  assert.ok(names.length >= 60);
  const prompts = new Prompts(() => '');
  for (const name of names) {
    const s = prompts.get(name);
    assert.ok(s.length >= 1600, `${name}: ${s.length} samples`);
    assert.ok(s.some((x) => Math.abs(x) > 3000), `${name} is not silent`);
  }
  assert.deepEqual(readdirSync(BUILT_IN).filter((f) => f.endsWith('.wav')).length, names.length, 'no WAV without its text, no text without its WAV');
});

test('numbers, digits and times are said with existing prompts', () => {
  const prompts = new Prompts(() => '');
  const words = [...numberWords(47), ...numberWords(13), ...digitWords('2001*#'), ...whenWords('2026-03-08T14:05:00Z', 'UTC')];
  for (const w of words) assert.ok(prompts.get(w).length > 0, w);
  assert.deepEqual(numberWords(47), ['n40', 'n7']);
  assert.deepEqual(whenWords('2026-03-08T14:05:00Z', 'UTC'), ['received', 'month3', 'n8', 'n2', 'n0', 'n5', 'pm']);
});

test("an admin's file in voicemail.prompts_dir replaces the built-in prompt of the same name", () => {
  const dir = tempDir();
  writeToneWav(join(dir, 'goodbye.wav'), 500, 1);
  const problems: string[] = [];
  const prompts = new Prompts(() => dir, (file, problem) => problems.push(`${file}: ${problem}`));
  assert.equal(prompts.get('goodbye').length, 8000, 'the admin file (1 s tone)');
  assert.notEqual(prompts.get('enter-pin').length, 0, 'others stay built in');
  // A broken file is reported and the built-in prompt plays: a caller never hears nothing.
  writeFileSync(join(dir, 'menu.wav'), 'not a wav');
  assert.equal(prompts.get('menu').length, new Prompts(() => '').get('menu').length);
  assert.equal(problems.length, 1);
  assert.match(problems[0]!, /menu\.wav: .*not a WAV file/);
});
