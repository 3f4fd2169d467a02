// api.trusted_proxies: behind nginx (contrib/nginx/pbx.conf) every request comes from the
// proxy; the pbx believes X-Forwarded-For from the listed proxies only, so its logs and
// bans name the phone. From any other address the header is ignored (anyone can send it).
import { test, after } from 'node:test';
import { readFileSync, writeFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { freePort, freeSipPort, RunningServer, tempDir, writeConfig } from '../helpers/server.ts';
import { getFrom } from '../helpers/http-digest.ts';

let server: RunningServer;
after(async () => {
  await server?.stop();
});

test("X-Forwarded-For names the client only when a trusted proxy sends it", async () => {
  const port = await freePort();
  const file = writeConfig(tempDir(), { port, sipPort: await freeSipPort() });
  writeFileSync(file, readFileSync(file, 'utf8').replace(`  port: ${port}\n`, `  port: ${port}\n  trusted_proxies: [127.0.0.1/32]\n`));
  server = await RunningServer.start(file, port);
  const headers = { 'x-forwarded-for': '192.0.2.77', 'user-agent': 'Yealink SIP-T46S 66.86.0.15 00:15:65:00:00:77' };
  assert.equal((await getFrom({ port, path: '/provision/001565000077.cfg', headers })).status, 404);
  await server.waitForLog(/"ip":"192\.0\.2\.77"[^\n]*Provisioning request received for MAC: 001565000077/, 3000);
  // The same header from an address that is no trusted proxy: its own address is used.
  assert.equal((await getFrom({ port, path: '/provision/001565000078.cfg', headers, localAddress: '127.0.0.9' })).status, 404);
  await server.waitForLog(/"ip":"127\.0\.0\.9"[^\n]*Provisioning request received for MAC: 001565000078/, 3000);
  assert.doesNotMatch(await server.settledLog(), /001565000078[^\n]*192\.0\.2\.77/);
});
