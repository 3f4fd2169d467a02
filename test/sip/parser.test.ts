// The SIP parser against RFC 4475's torture messages, and a seeded fuzz run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '../helpers/random.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseMessage, SipMessageError } from '../../src/sip/parser.ts';
import { SipRequest, SipResponse } from '../../src/sip/message.ts';
import { StreamFramer } from '../../src/sip/stream-framer.ts';
import { SipParseError } from '../../src/sip/errors.ts';

interface Torture {
  name: string;
  section: string;
  valid: boolean;
  kind: 'request' | 'response';
  status: number | null;
  altStatus?: number[];
  liberalOk?: boolean;
}

const DIR = join(import.meta.dirname, 'torture');
const corpus: Torture[] = JSON.parse(readFileSync(join(DIR, 'index.json'), 'utf8'));
const bytes = (name: string) => readFileSync(join(DIR, `${name}.dat`));

// Codes the stack answers itself; the others (405, 415, 420, 483, 501 …) are the
// transaction user's answer to a well-formed message, tested against the server.
const PARSE_LEVEL = new Set([400, 416, 505, 513]);

test('RFC 4475: every message is either parsed or refused with the status the RFC names', () => {
  assert.equal(corpus.length, 49);
  for (const t of corpus) {
    let parsed: SipRequest | SipResponse | undefined;
    let error: SipMessageError | undefined;
    try {
      parsed = parseMessage(bytes(t.name));
    } catch (err) {
      assert.ok(err instanceof SipMessageError, `${t.name}: ${err}`);
      error = err;
    }
    const rejectAllowed = t.status !== null && PARSE_LEVEL.has(t.status);
    if (t.valid && !rejectAllowed) {
      assert.ok(parsed, `${t.name} (${t.section}) is valid and must parse: ${error?.message}`);
      continue;
    }
    if (error) {
      if (t.kind === 'response') continue; // a bad response is dropped, never answered
      const allowed = [t.status, ...(t.altStatus ?? [])].filter((s) => s !== null).map((s) => (PARSE_LEVEL.has(s!) ? s : 400));
      assert.ok(allowed.includes(error.status), `${t.name}: got ${error.status} ${error.message}, RFC says ${allowed}`);
      assert.ok(error.request, `${t.name}: a refused request keeps enough headers to be answered`);
      continue;
    }
    assert.ok(t.valid || t.liberalOk, `${t.name} (${t.section}) is invalid and was accepted`);
  }
});

test('RFC 4475 valid messages keep what matters', () => {
  const wsinv = parseMessage(bytes('wsinv')) as SipRequest;
  assert.equal(wsinv.method, 'INVITE');
  assert.equal(wsinv.to.uri.user, 'vivekg');
  assert.equal(wsinv.callId, 'wsinv.ndaksdj@192.0.2.1');
  assert.equal(wsinv.cseq.seq, 9);
  assert.equal(wsinv.vias.length, 3, 'folded and comma-separated Vias');
  assert.equal(wsinv.body.length, Number(wsinv.get('content-length')));

  const escnull = parseMessage(bytes('escnull')) as SipRequest;
  const contacts = escnull.contacts;
  assert.ok(contacts !== '*' && contacts.length === 2);

  const semi = parseMessage(bytes('semiuri')) as SipRequest;
  assert.equal(semi.requestUri.user, 'user;par=u%40example.net');

  const mpart = parseMessage(bytes('mpart01')) as SipRequest;
  assert.equal(mpart.body.length, Number(mpart.get('content-length')), 'binary body framed by Content-Length');

  const dbl = parseMessage(bytes('dblreq')) as SipRequest;
  assert.equal(dbl.method, 'REGISTER');
  assert.equal(dbl.body.length, 0, 'bytes after Content-Length are ignored on UDP');

  const noreason = parseMessage(bytes('noreason')) as SipResponse;
  assert.equal(noreason.status, 100);
  assert.equal(noreason.reason, '');

  const inv2543 = parseMessage(bytes('inv2543')) as SipRequest;
  assert.equal(inv2543.topVia.branch, null);
});

test('serialising a parsed message and parsing it again gives the same message', () => {
  for (const t of corpus) {
    let m;
    try {
      m = parseMessage(bytes(t.name));
    } catch {
      continue;
    }
    const again = parseMessage(m.toBuffer());
    assert.deepEqual(again.headers.filter((h) => h.name !== 'content-length'), m.headers.filter((h) => h.name !== 'content-length'), t.name);
    assert.ok(again.body.equals(m.body), t.name);
  }
});

test('stream framing: Content-Length frames, split chunks, CRLF keep-alive pings, missing length', () => {
  const msg = bytes('wsinv');
  const framer = new StreamFramer(65_535);
  const out = [...framer.push(Buffer.from('\r\n\r\n')), ...framer.push(Buffer.concat([msg.subarray(0, 100)])), ...framer.push(Buffer.concat([msg.subarray(100), msg]))];
  assert.equal(out[0], 'ping');
  assert.equal(out.length, 3);
  assert.ok((out[1] as Buffer).equals(msg) && (out[2] as Buffer).equals(msg));
  assert.throws(() => new StreamFramer(65_535).push(bytes('inv2543')), /Content-Length is required/);
  assert.throws(() => parseMessage(bytes('inv2543'), true), /Content-Length is required/);
});

test('hard limits: size, header count, line length', () => {
  const huge = Buffer.concat([bytes('wsinv'), Buffer.alloc(70_000, 0x61)]);
  assert.throws(() => parseMessage(huge), (e: SipMessageError) => e.status === 513);
  const many = 'OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n' + 'X-A: 1\r\n'.repeat(300) + '\r\n';
  assert.throws(() => parseMessage(Buffer.from(many)), /More than 256 headers/);
  const long = 'OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nX-A: ' + 'a'.repeat(20_000) + '\r\n\r\n';
  assert.throws(() => parseMessage(Buffer.from(long)), /Header line too long/);
});

test('fuzz: 30,000 seeded mutations never crash or hang the parser', () => {
  const rand = seededRandom(0x5eed);
  const seeds = corpus.map((t) => bytes(t.name));
  const started = Date.now();
  let parsed = 0;
  let refused = 0;
  for (let i = 0; i < 30_000; i++) {
    const base = Buffer.from(seeds[Math.floor(rand() * seeds.length)]!);
    const n = 1 + Math.floor(rand() * 8);
    let buf = base;
    for (let k = 0; k < n; k++) {
      const pos = Math.floor(rand() * buf.length);
      const op = rand();
      if (op < 0.4) buf[pos] = Math.floor(rand() * 256);
      else if (op < 0.6) buf = Buffer.concat([buf.subarray(0, pos), buf.subarray(pos + 1 + Math.floor(rand() * 20))]);
      else if (op < 0.8) buf = Buffer.concat([buf.subarray(0, pos), Buffer.from([':', ';', '"', '<', '>', '\r\n', ' ', ',', '%', '@', '[', '\t'][Math.floor(rand() * 12)]!), buf.subarray(pos)]);
      else buf = Buffer.concat([buf.subarray(0, pos), buf.subarray(pos, pos + Math.floor(rand() * 200)), buf.subarray(pos)]);
    }
    try {
      const m = parseMessage(buf);
      if (m instanceof SipRequest) {
        m.contacts;
        m.toBuffer();
      }
      parsed++;
    } catch (err) {
      assert.ok(err instanceof SipParseError, `mutation ${i} threw ${err}`);
      refused++;
    }
  }
  assert.ok(parsed > 1000 && refused > 1000, `parsed ${parsed}, refused ${refused}`);
  assert.ok(Date.now() - started < 20_000, 'no pathological slowness');
});
