// Readable log lines at a terminal; JSON everywhere else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { formatLine } from '../../src/log-format.ts';
import { freeSipPort, PBX_BIN, tempDir, writeConfig } from '../helpers/server.ts';

test('a JSON line becomes time, level, component, message and the other fields', () => {
  const line = JSON.stringify({ level: 'warn', time: '2026-12-04T01:02:03.456Z', service: 'pbx', component: 'lifecycle', setup_token_file: '/var/lib/pbx/setup-token', msg: 'No admin account yet' });
  assert.equal(formatLine(line), '01:02:03 WARN  lifecycle  No admin account yet  setup_token_file=/var/lib/pbx/setup-token\n');
  assert.match(formatLine(line, true), /\x1b\[33mWARN \x1b\[0m/, 'warnings in colour at a terminal');
  assert.equal(formatLine('not json'), 'not json', 'anything else passes unchanged');
});

test('the server logs readable lines with PBX_LOG_FORMAT=pretty (as at a terminal) and JSON into a pipe', async () => {
  const blocker = createServer();
  const port = await new Promise<number>((ok) => blocker.listen(0, '127.0.0.1', () => ok((blocker.address() as { port: number }).port)));
  try {
    // A port in use makes `serve` stop at once, after its first lines.
    const file = writeConfig(tempDir(), { port, sipPort: await freeSipPort() });
    const pretty = spawnSync(process.execPath, [PBX_BIN, 'serve', '--config', file], { env: { ...process.env, PBX_LOG_FORMAT: 'pretty' }, encoding: 'utf8', timeout: 20_000 });
    assert.match(pretty.stdout, /^\d\d:\d\d:\d\d INFO  lifecycle  pbx \S+ starting  version=\S+$/m, pretty.stdout);
    assert.match(pretty.stdout, new RegExp(`FATAL API port ${port} on 127\\.0\\.0\\.1 is already in use`));
    const piped = spawnSync(process.execPath, [PBX_BIN, 'serve', '--config', file], { env: { ...process.env, PBX_LOG_FORMAT: '' }, encoding: 'utf8', timeout: 20_000 });
    const first = piped.stdout.split('\n').find((l) => l.includes('starting'))!;
    assert.equal(JSON.parse(first).component, 'lifecycle', 'JSON into a pipe (journald, files)');
  } finally {
    blocker.close();
  }
});
