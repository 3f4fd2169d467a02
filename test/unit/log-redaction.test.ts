// Secrets never reach the log: a careless log call with a SIP password, a token or an
// Authorization header in its fields, at the top or one object down, writes "[redacted]".
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../../src/log.ts';

function logged(fields: Record<string, unknown>): Record<string, unknown> {
  const lines: string[] = [];
  const log = createLogger('info', { write: (line: string) => void lines.push(line) });
  log.info(fields, 'a line');
  assert.equal(lines.length, 1);
  return JSON.parse(lines[0]!) as Record<string, unknown>;
}

test('top-level secrets are redacted, the other fields are kept', () => {
  const line = logged({ password: 'Pw-1', secret: 's3', token: 'pbx_abc', authorization: 'Digest x', ip: '10.0.0.9', extension: '201' });
  assert.deepEqual(
    { password: line.password, secret: line.secret, token: line.token, authorization: line.authorization, ip: line.ip, extension: line.extension },
    { password: '[redacted]', secret: '[redacted]', token: '[redacted]', authorization: '[redacted]', ip: '10.0.0.9', extension: '201' },
  );
  assert.equal(line.msg, 'a line');
});

test('secrets one object down are redacted, and the logged object is left as it was', () => {
  const ext = { number: '201', password: 'Pw-1', secret: 's3' };
  const req = { headers: { authorization: 'Bearer pbx_abc', cookie: 'pbx_session=1', 'user-agent': 'Yealink' }, url: '/api/x' };
  const line = logged({ ext, body: { token: 'pbx_abc', name: 'n' }, req, plain: 'text' });
  assert.deepEqual(line.ext, { number: '201', password: '[redacted]', secret: '[redacted]' });
  assert.deepEqual(line.body, { token: '[redacted]', name: 'n' });
  assert.deepEqual(line.req, { headers: { authorization: '[redacted]', cookie: '[redacted]', 'user-agent': 'Yealink' }, url: '/api/x' });
  assert.equal(line.plain, 'text');
  assert.equal(ext.password, 'Pw-1');
  assert.equal(req.headers.authorization, 'Bearer pbx_abc');
});

test('no secret in the line text of a whole storm of lines', () => {
  const lines: string[] = [];
  const log = createLogger('info', { write: (line: string) => void lines.push(line) }).child({ component: 'sip' });
  for (let i = 0; i < 100; i++) log.info({ extension: String(i), credentials: { user: `u${i}`, password: `Secret-${i}` } }, 'registered');
  assert.equal(lines.length, 100);
  assert.ok(lines.every((l) => !l.includes('Secret-')), 'a password reached the log');
});
