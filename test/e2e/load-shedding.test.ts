// Too busy to answer phones in time (a boot storm): phone files are answered 503 with
// Retry-After at once, which phones retry, instead of queueing until the kernel resets
// their connections; the admin and the API are still served. In-process (fastify
// inject) so the test can really stall the server's event loop.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Http } from '../../src/api/server.ts';
import { inProcess, type InProcess } from '../helpers/in-process.ts';

let it: InProcess;
let app: Http;
let token: string;

before(async () => {
  it = await inProcess('api:\n  shed_busy_percent: 90\n');
  app = it.app;
  token = (await it.pbx.tokens.create('admin')).token;
});
after(() => it.close());

/** Keeps the event loop busy (as a storm of requests would) for `ms`, in slices so its timers still run. */
async function stall(ms: number): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    const slice = Date.now() + 150;
    while (Date.now() < slice) {
      /* busy */
    }
    await new Promise((r) => setImmediate(r));
  }
}

const file = () => app.inject({ url: '/provision/001565000042.cfg' });

test('a stalled server answers phone files 503 with Retry-After, serves the API, and counts it; once idle it serves files again', async () => {
  assert.equal((await file()).statusCode, 404, 'idle: an unknown phone is answered as usual');
  await stall(3200);
  const busy = await file();
  assert.equal(busy.statusCode, 503);
  assert.equal(busy.headers['retry-after'], '5');
  assert.equal((await app.inject({ url: '/api/extensions', headers: { authorization: `Bearer ${token}` } })).statusCode, 200, 'the API is still served');
  const metrics = await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${token}` } });
  assert.match(metrics.body, /^pbx_http_shed_total [1-9]/m);
  assert.match(metrics.body, /^pbx_tcp_listen_overflows_total \d+/m);
  await new Promise((r) => setTimeout(r, 2200));
  assert.equal((await file()).statusCode, 404, 'idle again: files are served');
});
