// The layout docs/INSTALL.md and pbx.service describe: config in one folder
// (PBX_CONFIG=/etc/pbx/config.yml), data in another (PBX_DATA_DIR=/var/lib/pbx), here
// under a temporary root. Every file the server and the CLI write lands where the guide
// says; nothing but config.yml lands next to the config.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, freeSipPort, ROOT, runCli, RunningServer, SERVE_NODE_FLAGS, tempDir } from '../helpers/server.ts';

let server: RunningServer | undefined;
after(async () => {
  await server?.stop();
});

test('config in /etc/pbx, data in /var/lib/pbx/data: the files land where INSTALL.md says', async () => {
  const root = tempDir();
  const etc = join(root, 'etc/pbx');
  const lib = join(root, 'var/lib/pbx');
  mkdirSync(etc, { recursive: true });
  mkdirSync(lib, { recursive: true });
  const config = join(etc, 'config.yml');
  const env = { PBX_CONFIG: config, PBX_DATA_DIR: lib };
  const unit = readFileSync(join(ROOT, 'pbx.service'), 'utf8');
  assert.match(unit, /^Environment=PBX_CONFIG=\/etc\/pbx\/config\.yml$/m, 'the unit sets the layout the test follows');
  assert.match(unit, /^Environment=PBX_DATA_DIR=\/var\/lib\/pbx$/m);
  const guide = readFileSync(join(ROOT, 'docs/INSTALL.md'), 'utf8');
  assert.match(guide, /\/var\/lib\/pbx\/data\//);
  assert.match(readFileSync(join(ROOT, 'contrib/fail2ban/jail.d/pbx.local'), 'utf8'), /logpath\s*=\s*\/var\/lib\/pbx\/data\/security\.log/);

  // The first start writes the default config, then the data: as systemd would run it.
  const port = await freePort();
  const sipPort = await freeSipPort();
  const { writeDefaultConfig } = await import('../../src/config/default-file.ts');
  writeDefaultConfig(config, '127.0.0.1');
  writeFileSync(config, readFileSync(config, 'utf8').replace(/^  port: 8080$/m, `  port: ${port}`).replace(/^  sip_port: 5060$/m, `  sip_port: ${sipPort}`).replace('  host: 0.0.0.0\n', '  host: 127.0.0.1\n'));
  server = await RunningServer.start(config, port, env);
  await server.waitForLog(/setup token from \S+setup-token/);
  assert.equal((await runCli(['ext', 'add', '1001'], env)).code, 0);
  await server.stop();
  server = undefined;

  assert.deepEqual(readdirSync(etc).sort(), ['config.yml'], 'nothing but the config next to it');
  const data = readdirSync(join(lib, 'data')).sort();
  for (const f of ['pbx.db', 'secret.key', 'setup-token']) assert.ok(data.includes(f), `${f} in ${lib}/data: ${data}`);
  assert.ok(!existsSync(join(etc, 'data')), 'no data folder under the config folder');
  assert.match(readFileSync(join(lib, 'data/setup-token'), 'utf8'), /\S{32,}/);
});

test('npm start, pbx.service and the tests serve with the same node flags', () => {
  const flagsOf = (command: string) => command.split(/\s+/).filter((w) => w.startsWith('--'));
  const unit = readFileSync(join(ROOT, 'pbx.service'), 'utf8');
  const execStart = /^ExecStart=(.*)$/m.exec(unit)?.[1];
  assert.ok(execStart, 'pbx.service has an ExecStart line');
  const start = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts['start']!;
  assert.deepEqual(flagsOf(execStart), flagsOf(start), 'pbx.service and npm start');
  for (const flag of SERVE_NODE_FLAGS) assert.ok(flagsOf(start).includes(flag), `npm start serves with ${flag}, as the tests do`);
});
