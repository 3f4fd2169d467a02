// The `pbx` command line. Every command takes --config FILE (default $PBX_CONFIG or
// ./config.yml). Output a script needs (a new token, a new secret, a URL) is printed
// alone on the last line of stdout; messages for people go to stderr.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { ConfigError, loadConfigFile } from '../config/load.js';
import { writeDefaultConfig } from '../config/default-file.js';
import { createPbx } from '../app.js';
import type { Pbx } from '../application.js';
import { createLogger } from '../log.js';
import { PbxError } from '../pbx/errors.js';
import { extensionRows, extensionsCsv } from '../pbx/extension-csv.js';
import type { RowError } from '../pbx/extensions.js';
import { deviceRows, devicesCsv } from '../provisioning/device-csv.js';
import { DEVICE_LISTENERS, DeviceService, type DeviceListener } from '../provisioning/devices.js';
import { listenerProblem } from '../provisioning/config-url.js';
import { TemplateError } from '../provisioning/templates.js';
import { VERSION } from '../version.js';
import { serve } from './serve.js';
import { printTable } from './table.js';
import { fromRunningServer } from './live.js';
import { runDoctor } from './doctor.js';
import { selfSignedCertificate } from './cert.js';
import { dirname } from 'node:path';

const program = new Command();
program
  .name('pbx')
  .description('pbx: a phone system. Phones provision themselves over HTTP and register over SIP.')
  .version(VERSION)
  .addOption(new Option('-c, --config <file>', 'config file').env('PBX_CONFIG').default('config.yml'))
  .showHelpAfterError();

const configPath = () => resolve(program.opts<{ config: string }>().config);

/** Loads the config (writing the default one first when there is none) and builds the services. */
async function withPbx<T>(fn: (pbx: Pbx) => Promise<T>): Promise<T> {
  const file = configPath();
  if (writeDefaultConfig(file)) process.stderr.write(`No config file found: wrote a commented default to ${file}\n`);
  const loaded = loadConfigFile(file);
  const pbx = await createPbx(loaded, createLogger('warn', process.stderr));
  try {
    return await fn(pbx);
  } finally {
    await pbx.close();
  }
}

const out = (line: string): void => void process.stdout.write(line + '\n');

/** An import refused: each wrong row as file:line (as compilers say it), and a failing exit. */
function refusedRows(file: string, errors: RowError[]): void {
  for (const e of errors) process.stderr.write(`${file}:${e.line}: ${e.field}: ${e.message}\n`);
  process.stderr.write(`${errors.length} row(s) are wrong; nothing was imported\n`);
  process.exitCode = 1;
}

program
  .command('serve')
  .description('start the server (writes a default config.yml first if there is none)')
  .action(async () => serve(configPath()));

const config = program.command('config').description('check the configuration');
config
  .command('check [file]')
  .description('validate a config file without starting anything')
  .action((file?: string) => {
    const path = resolve(file ?? configPath());
    if (!existsSync(path)) throw new PbxError('not_found', `No config file at ${path}`);
    loadConfigFile(path);
    out(`OK: ${path} is valid`);
  });

const token = program.command('token').description('API tokens');
token
  .command('create')
  .description('create an API token; prints it alone on the last line (it is shown only now)')
  .requiredOption('--name <name>', 'who or what the token is for')
  .addOption(new Option('--role <role>', 'admin or read-only').choices(['admin', 'read-only']).default('admin'))
  .option('--expires-days <days>', 'expire after this many days', (v) => positiveInt(v, '--expires-days'))
  .action(async (o: { name: string; role: 'admin' | 'read-only'; expiresDays?: number }) =>
    withPbx(async (pbx) => {
      const expires = o.expiresDays ? new Date(Date.now() + o.expiresDays * 86_400_000).toISOString() : null;
      const { token: t, info } = await pbx.tokens.create(o.name, o.role, expires);
      process.stderr.write(`Created ${info.role} token #${info.id} "${info.name}". Store it now: it cannot be shown again.\n`);
      out(t);
    }),
  );
token
  .command('list')
  .description('list API tokens (never their values)')
  .option('--json', 'print JSON')
  .action(async (o: { json?: boolean }) =>
    withPbx(async (pbx) => {
      const rows = await pbx.tokens.list();
      if (o.json) return out(JSON.stringify(rows, null, 2));
      printTable(rows.map((r) => ({ id: r.id, name: r.name, role: r.role, created: r.created_at, expires: r.expires_at ?? '', revoked: r.revoked_at ?? '' })));
    }),
  );
token
  .command('revoke <id>')
  .description('revoke an API token')
  .action(async (id: string) =>
    withPbx(async (pbx) => {
      await pbx.tokens.revoke(positiveInt(id, 'id'));
      out(`Token #${id} revoked`);
    }),
  );

const admin = program.command('admin').description('admin accounts (API and web admin)');
admin
  .command('create <username>')
  .description('create an admin account; prints its password alone on the last line (generated unless --password)')
  .addOption(new Option('--role <role>', 'admin or read-only').choices(['admin', 'read-only']).default('admin'))
  .option('--password <password>', 'at least 12 characters')
  .action(async (username: string, o: { role: 'admin' | 'read-only'; password?: string }) =>
    withPbx(async (pbx) => {
      const password = await pbx.admins.create(username, o.role, o.password);
      process.stderr.write(`Admin ${username} (${o.role}) created. Password:\n`);
      out(password);
    }),
  );
admin
  .command('list')
  .description('list admin accounts')
  .action(async () =>
    withPbx(async (pbx) => {
      printTable((await pbx.admins.list()).map((a) => ({ ...a, locked_until: a.locked_until ?? '', last_login_at: a.last_login_at ?? 'never' })));
    }),
  );

const ext = program.command('ext').description('extensions');
ext
  .command('add <number>')
  .description('add an extension; prints its SIP password alone on the last line')
  .option('--name <name>', 'display name')
  .option('--password <password>', 'SIP password (a strong one is generated when omitted)')
  .option('--voicemail-pin <pin>', 'voicemail PIN')
  .option('--allow-weak-password', 'accept a password that fails the strength check')
  .option('--digest-algorithms <list>', 'digest algorithms for this extension, e.g. MD5 or SHA-256,MD5 (default: sip.digest_algorithms)')
  .option('--class <class>', 'outside calls it may make: internal, local, national or international (default: dialplan.default_class)')
  .action(async (number: string, o: { name?: string; password?: string; voicemailPin?: string; allowWeakPassword?: boolean; digestAlgorithms?: string; class?: string }) =>
    withPbx(async (pbx) => {
      const { extension, password } = await pbx.extensions.create({
        number,
        name: o.name,
        password: o.password,
        voicemail_pin: o.voicemailPin,
        allow_weak_password: o.allowWeakPassword,
        digest_algorithms: o.digestAlgorithms ? (o.digestAlgorithms.split(',').map((a) => a.trim().toUpperCase()) as never) : undefined,
        outbound_class: o.class as never,
      });
      process.stderr.write(`Extension ${extension.number} (${extension.name}) created. Its SIP password:\n`);
      out(password);
    }),
  );
ext
  .command('list')
  .description('list extensions')
  .option('--json', 'print JSON')
  .action(async (o: { json?: boolean }) =>
    withPbx(async (pbx) => {
      const rows = pbx.extensions.list().map((e) => ({
        number: e.number,
        name: e.name,
        enabled: e.enabled,
        devices: pbx.devices.usingExtension(e.number).map((d) => d.mac).join(' '),
      }));
      if (o.json) return out(JSON.stringify(rows, null, 2));
      printTable(rows);
    }),
  );
ext
  .command('show <number>')
  .description('show an extension')
  .option('--show-password', 'include the SIP password')
  .action(async (number: string, o: { showPassword?: boolean }) =>
    withPbx(async (pbx) => {
      const e = pbx.extensions.require(number);
      const view = {
        number: e.number,
        name: e.name,
        enabled: e.enabled,
        voicemail_pin_set: pbx.voicemail.store.mailbox(e.number).hasPin || e.voicemailPin !== null,
        digest_algorithms: e.digestAlgorithms,
        devices: pbx.devices.usingExtension(e.number).map((d) => d.mac),
        created_at: e.createdAt,
        updated_at: e.updatedAt,
        ...(o.showPassword ? { password: e.secret } : {}),
      };
      out(JSON.stringify(view, null, 2));
    }),
  );
ext
  .command('set <number>')
  .description('change an extension (only the options given)')
  .option('--name <name>', 'display name')
  .option('--password <password>', 'a new SIP password (its phones must be given it: resync them)')
  .option('--allow-weak-password', 'accept a password that fails the strength check')
  .option('--voicemail-pin <pin>', 'voicemail PIN')
  .option('--enable', 'let it register and call')
  .option('--disable', 'refuse its registrations and calls')
  .option(
    '--digest-algorithms <list>',
    'digest algorithms, e.g. MD5 for a phone that reads only the first challenge and lacks SHA-256, or "default" for sip.digest_algorithms',
  )
  .option('--class <class>', 'outside calls it may make: internal, local, national, international, or "default" for dialplan.default_class')
  .action(async (number: string, o: { name?: string; password?: string; allowWeakPassword?: boolean; voicemailPin?: string; enable?: boolean; disable?: boolean; digestAlgorithms?: string; class?: string }) =>
    withPbx(async (pbx) => {
      if (o.enable && o.disable) throw new PbxError('invalid', 'give --enable or --disable, not both', 'enabled');
      const algorithms = o.digestAlgorithms === undefined ? undefined : o.digestAlgorithms.toLowerCase() === 'default' ? null : o.digestAlgorithms.split(',').map((a) => a.trim().toUpperCase());
      const e = await pbx.extensions.update(number, {
        ...(o.name !== undefined ? { name: o.name } : {}),
        ...(o.password !== undefined ? { password: o.password, allow_weak_password: o.allowWeakPassword } : {}),
        ...(o.voicemailPin !== undefined ? { voicemail_pin: o.voicemailPin } : {}),
        ...(o.enable || o.disable ? { enabled: !!o.enable } : {}),
        ...(algorithms !== undefined ? { digest_algorithms: algorithms as never } : {}),
        ...(o.class !== undefined ? { outbound_class: (o.class === 'default' ? null : o.class) as never } : {}),
      });
      out(`Extension ${e.extension.number} changed (digest algorithms: ${(e.extension.digestAlgorithms ?? ['default']).join(', ')})`);
    }),
  );
ext
  .command('rm <number>')
  .description('remove an extension')
  .action(async (number: string) =>
    withPbx(async (pbx) => {
      await pbx.extensions.delete(number);
      out(`Extension ${number} removed`);
    }),
  );

ext
  .command('import <file>')
  .description('create or update extensions from a CSV (FreePBX, FusionPBX or `pbx ext export` columns); one bad row changes nothing')
  .option('--allow-weak-passwords', 'accept passwords that fail the strength check (an old system\'s)')
  .option('--dry-run', 'check every row, import nothing')
  .action(async (file: string, o: { allowWeakPasswords?: boolean; dryRun?: boolean }) =>
    withPbx(async (pbx) => {
      const { rows, errors, ignored } = extensionRows(readFileSync(file, 'utf8'), { allowWeakPasswords: o.allowWeakPasswords === true });
      if (ignored.length > 0) process.stderr.write(`Columns not imported: ${ignored.join(', ')}\n`);
      const result = await pbx.extensions.importMany(rows, { dryRun: o.dryRun === true, rowErrors: errors });
      if ('errors' in result) return refusedRows(file, result.errors);
      if (o.dryRun) return out(`${rows.length} row(s) checked; nothing imported (--dry-run)`);
      for (const g of result.generated) process.stderr.write(`Extension ${g.number}: generated SIP password ${g.password}\n`);
      out(`${result.created} extension(s) created, ${result.updated} updated`);
    }),
  );
ext
  .command('export')
  .description('print every extension as CSV')
  .option('--passwords', 'include each SIP password (keep the file safe)')
  .action(async (o: { passwords?: boolean }) =>
    withPbx(async (pbx) => {
      process.stdout.write(extensionsCsv(pbx.extensions.list(), o.passwords === true));
    }),
  );

const device = program.command('device').description('provisioned phones');
device
  .command('add <mac>')
  .description('add a phone; prints its config URL alone on the last line')
  .requiredOption('--extension <number...>', 'extension on line 1 (more numbers for lines 2, 3 …)')
  .requiredOption('--vendor <vendor>', 'vendor, e.g. yealink')
  .requiredOption('--model <model>', 'model, e.g. T46S')
  .option('--label <label>', 'free text shown in lists')
  .option('--listener <listener>', 'default, http or https: the listener its URLs point at')
  .action(async (mac: string, o: { extension: string[]; vendor: string; model: string; label?: string; listener?: string }) =>
    withPbx(async (pbx) => {
      const listener = o.listener as DeviceListener | undefined;
      if (listener !== undefined && !DEVICE_LISTENERS.includes(listener)) throw new PbxError('invalid', `--listener must be one of ${DEVICE_LISTENERS.join(', ')}`);
      const problem = listener ? listenerProblem(pbx.config(), listener) : null;
      if (problem) throw new PbxError('invalid', `--listener ${listener} cannot be used: ${problem}`);
      const d = await pbx.devices.create({ mac_address: mac, lines: o.extension, vendor: o.vendor, model: o.model, label: o.label, listener });
      process.stderr.write(
        `Device ${d.mac} added (${d.vendor} ${d.model}, extension ${d.lines.join(', ')}).\n` +
          `Provisioning credential (shown once; its file hands it to the phone): ${d.credential.user} / ${d.credential.password}\nConfig URL:\n`,
      );
      out(pbx.files.configUrl(d));
    }),
  );
device
  .command('list')
  .description('list phones with their live config URLs')
  .option('--json', 'print JSON')
  .action(async (o: { json?: boolean }) =>
    withPbx(async (pbx) => {
      const devices = pbx.devices.list();
      const states = await pbx.resync.states(devices);
      const rows = devices.map((d, i) => ({
        mac: d.mac,
        vendor: d.vendor,
        model: d.model,
        extension: d.lines.join(','),
        sync: states[i]!,
        last_provisioned: d.lastProvisioned ?? 'never',
        config_url: pbx.files.configUrl(d),
      }));
      if (o.json) return out(JSON.stringify(rows, null, 2));
      printTable(rows);
    }),
  );
device
  .command('show <mac>')
  .description('show a phone')
  .action(async (mac: string) =>
    withPbx(async (pbx) => {
      const { credential, ...d } = pbx.devices.require(DeviceService.parseMac(mac));
      out(JSON.stringify({ ...d, provisioning_username: credential.user, config_url: pbx.files.configUrl({ ...d, credential }) }, null, 2));
    }),
  );
device
  .command('resync [mac]')
  .description('tell a phone (or --all, or --stale) to fetch its file now, through the running server')
  .option('--all', 'every phone, in batches with jitter')
  .option('--stale', 'every phone whose file changed since it fetched it')
  .option('--reboot', 'reboot instead of a plain re-fetch')
  .action(async (mac: string | undefined, o: { all?: boolean; stale?: boolean; reboot?: boolean }) =>
    withPbx(async (pbx) => {
      if (mac) {
        const m = DeviceService.parseMac(mac);
        const r = await fromRunningServer<{ contacts: number; statuses: number[]; event: string }>(pbx, `/api/provisioning/devices/${m}/resync`, { reboot: !!o.reboot });
        out(r.contacts ? `${m}: ${r.event} sent to ${r.contacts} contact(s), answered ${r.statuses.join(', ')}` : `${m}: not registered, nothing sent`);
        return;
      }
      if (!o.all && !o.stale) throw new PbxError('invalid', 'name a MAC, or use --all or --stale');
      const r = await fromRunningServer<{ queued: number }>(pbx, '/api/provisioning/resync', { reboot: !!o.reboot, ...(o.stale ? { sync_state: 'stale' } : {}) });
      out(`${r.queued} phone(s) queued for resync`);
    }),
  );
device
  .command('login <mac>')
  .description("a phone's provisioning login (the user name; --new makes a new password and prints it once)")
  .option('--new', 'generate a new password (the phone then needs its first-fetch window or the password typed in)')
  .option('--open-window', 'let the phone fetch its file once more without the login (provisioning.auth.first_fetch_minutes)')
  .action(async (mac: string, o: { new?: boolean; openWindow?: boolean }) =>
    withPbx(async (pbx) => {
      const m = DeviceService.parseMac(mac);
      const d =
        o.new || o.openWindow
          ? await pbx.devices.update(m, { ...(o.new ? { regenerate_provisioning_password: true } : {}), ...(o.openWindow ? { open_first_fetch_window: true } : {}) })
          : pbx.devices.require(m);
      const until = pbx.provisioningAuth.windowUntil(d);
      process.stderr.write(`Device ${d.mac}: provisioning user ${d.credential.user}; first-fetch window ${until ? `open until ${until}` : 'closed'}\n`);
      if (o.new) {
        process.stderr.write('New provisioning password (shown once):\n');
        out(d.credential.password);
      } else out(d.credential.user);
    }),
  );
device
  .command('rm <mac>')
  .description('remove a phone')
  .action(async (mac: string) =>
    withPbx(async (pbx) => {
      await pbx.devices.delete(mac);
      out(`Device ${DeviceService.parseMac(mac)} removed`);
    }),
  );

device
  .command('import <file>')
  .description('create or update devices from a CSV (mac, vendor, model, lines, label; FusionPBX columns too); one bad row changes nothing')
  .option('--dry-run', 'check every row, import nothing')
  .action(async (file: string, o: { dryRun?: boolean }) =>
    withPbx(async (pbx) => {
      const { rows, ignored } = deviceRows(readFileSync(file, 'utf8'));
      if (ignored.length > 0) process.stderr.write(`Columns not imported: ${ignored.join(', ')}\n`);
      const result = await pbx.devices.importMany(rows, o.dryRun === true);
      if ('errors' in result) return refusedRows(file, result.errors);
      if (o.dryRun) return out(`${rows.length} row(s) checked; nothing imported (--dry-run)`);
      out(`${result.created} device(s) created, ${result.updated} updated`);
    }),
  );
device
  .command('export')
  .description('print every device as CSV')
  .action(async () => withPbx(async (pbx) => void process.stdout.write(devicesCsv(pbx.devices.list()))));

const provision = program.command('provision').description('phone files');
provision
  .command('render <mac>')
  .description('print the file that phone would get now (its account file unless --file names another)')
  .option('--file <name>', 'file name as the phone requests it, e.g. y000000000066.cfg')
  .action(async (mac: string, o: { file?: string }) =>
    withPbx(async (pbx) => {
      const d = pbx.devices.require(DeviceService.parseMac(mac));
      const r = o.file ? pbx.files.resolve(o.file) : pbx.files.renderDeviceFile(d);
      if (r.status !== 200) throw new PbxError('not_found', `Cannot render ${r.fileName || 'file'} for ${d.mac}: ${r.outcome}${r.detail ? ` (${r.detail})` : ''}${r.extension ? ` (extension ${r.extension})` : ''}`);
      process.stdout.write(r.body!.endsWith('\n') ? r.body! : r.body! + '\n');
    }),
  );
provision
  .command('url <mac>')
  .description('print the config URL of a phone, derived from the live config')
  .action(async (mac: string) =>
    withPbx(async (pbx) => {
      out(pbx.files.configUrl(pbx.devices.require(DeviceService.parseMac(mac))));
    }),
  );

const vm = program.command('vm').description('voicemail');
vm.command('list <mailbox>')
  .description("a mailbox's messages (new first) and settings")
  .option('--json', 'print JSON')
  .action(async (mailbox: string, o: { json?: boolean }) =>
    withPbx(async (pbx) => {
      pbx.extensions.require(mailbox);
      const all = await pbx.voicemail.store.list(mailbox);
      const messages = [...all.filter((m) => m.folder === 'new'), ...all.filter((m) => m.folder === 'saved')];
      if (o.json) return out(JSON.stringify({ mailbox: pbx.voicemail.store.mailbox(mailbox), messages }, null, 2));
      const s = pbx.voicemail.store.mailbox(mailbox);
      process.stderr.write(`Mailbox ${mailbox}: ${s.enabled ? 'on' : 'off'}, PIN ${s.hasPin ? 'set' : 'not set'}${s.email ? `, mails to ${s.email}` : ''}\n`);
      if (messages.length === 0) return void process.stderr.write('No messages.\n');
      printTable(messages.map((m) => ({ id: m.id, folder: m.folder, from: m.callerName ? `${m.callerName} (${m.caller})` : m.caller, received: m.createdAt, seconds: (m.durationMs / 1000).toFixed(1) })));
    }),
  );
vm.command('play <id>')
  .description('the message as WAV: to --out FILE, or to stdout (pbx vm play ID > message.wav)')
  .option('--out <file>', 'write the WAV here')
  .action(async (id: string, o: { out?: string }) =>
    withPbx(async (pbx) => {
      const m = await pbx.voicemail.store.get(id);
      if (!m) throw new PbxError('not_found', `No voicemail message ${id}`, 'id');
      const { readFileSync, writeFileSync } = await import('node:fs');
      const wav = readFileSync(pbx.voicemail.store.path(m));
      if (o.out) {
        writeFileSync(o.out, wav);
        process.stderr.write(`Message ${id} (${(m.durationMs / 1000).toFixed(1)} s from ${m.caller}) written to ${o.out}\n`);
      } else if (process.stdout.isTTY) throw new PbxError('invalid', 'the WAV is binary: give --out FILE or redirect stdout to a file', 'out');
      else process.stdout.write(wav);
    }),
  );
vm.command('rm <id>')
  .description('delete a message')
  .action(async (id: string) =>
    withPbx(async (pbx) => {
      const m = await pbx.voicemail.store.delete(id);
      process.stderr.write(`Message ${id} of mailbox ${m.mailbox} deleted\n`);
    }),
  );
vm.command('set <mailbox>')
  .description("change a mailbox: PIN (stored hashed), email, on/off")
  .option('--pin <pin>', 'new PIN (digits)')
  .option('--email <address>', 'mail new messages here ("" to stop)')
  .option('--on', 'voicemail on')
  .option('--off', 'voicemail off (calls get busy/unavailable as without voicemail)')
  .action(async (mailbox: string, o: { pin?: string; email?: string; on?: boolean; off?: boolean }) =>
    withPbx(async (pbx) => {
      pbx.extensions.require(mailbox);
      const s = await pbx.voicemail.store.updateMailbox(mailbox, {
        ...(o.pin !== undefined ? { pin: o.pin } : {}),
        ...(o.email !== undefined ? { email: o.email || null } : {}),
        ...(o.on ? { enabled: true } : o.off ? { enabled: false } : {}),
      });
      process.stderr.write(`Mailbox ${mailbox}: ${s.enabled ? 'on' : 'off'}, PIN ${s.hasPin ? 'set' : 'not set'}${s.email ? `, mails to ${s.email}` : ''}\n`);
    }),
  );

const trunk = program.command('trunk').description('SIP trunks to providers');
/** The options `trunk add` and `trunk set` share, as the API's fields. */
function trunkOptions(c: Command): Command {
  return c
    .option('--host <host>', "the provider's domain or address")
    .option('--port <port>', 'a fixed port ("srv": DNS SRV)')
    .option('--transport <t>', 'udp, tcp or tls')
    .option('--outbound-proxy <host[:port]>', 'send everything through this proxy ("" for none)')
    .option('--username <user>', 'account user name')
    .option('--auth-username <user>', 'user name in digest answers, when it differs')
    .option('--password <password>', 'account password (stored sealed)')
    .option('--realm <realm>', 'answer only challenges of this realm')
    .option('--expiry <seconds>', 'registration expiry asked for')
    .option('--contact-user <user>', 'Contact user (what the provider sends inbound calls to)')
    .option('--from-user <user>', 'From user of outbound calls')
    .option('--register', 'register with the provider (the default for a new trunk)')
    .option('--no-register', 'an IP-authenticated trunk (no registration)')
    .option('--allow <list>', 'addresses or CIDR ranges inbound calls may come from, comma-separated')
    .option('--codecs <list>', 'PCMU,PCMA')
    .option('--dtmf <mode>', 'rfc4733 or info')
    .option('--max-calls <n>', 'calls at once ("none": no limit)')
    .option('--priority <n>', 'lower goes first')
    .option('--caller-id-header <h>', 'from, pai or rpid')
    .option('--did-from <where>', 'where inbound calls carry the dialled number: auto, request_uri, to or diversion');
}
type TrunkFlags = Record<string, string | boolean | undefined>;
function trunkFields(o: TrunkFlags): Record<string, unknown> {
  const str = (k: string) => (typeof o[k] === 'string' ? (o[k] as string) : undefined);
  const num = (k: string, field: string) => {
    const v = str(k);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n)) throw new PbxError('invalid', `${field}: a whole number (got "${v}")`, field);
    return n;
  };
  const list = (k: string) => str(k)?.split(',').map((x) => x.trim()).filter(Boolean);
  const fields: Record<string, unknown> = {
    host: str('host'),
    port: str('port') === 'srv' ? null : num('port', 'port'),
    transport: str('transport'),
    outbound_proxy: str('outboundProxy') === '' ? null : str('outboundProxy'),
    username: str('username'),
    auth_username: str('authUsername'),
    password: str('password'),
    realm: str('realm'),
    expiry_seconds: num('expiry', 'expiry_seconds'),
    contact_user: str('contactUser'),
    from_user: str('fromUser'),
    allowed_addresses: list('allow'),
    codecs: list('codecs')?.map((c) => c.toUpperCase()),
    dtmf_mode: str('dtmf'),
    max_calls: str('maxCalls') === 'none' ? null : num('maxCalls', 'max_calls'),
    priority: num('priority', 'priority'),
    caller_id_header: str('callerIdHeader'),
    did_from: str('didFrom'),
  };
  if (typeof o['register'] === 'boolean') fields['register'] = o['register'];
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}
trunkOptions(trunk.command('add <name>').description('add a trunk (it registers once the server runs)')).action(async (name: string, o: TrunkFlags) =>
  withPbx(async (pbx) => {
    if (typeof o['host'] !== 'string') throw new PbxError('invalid', 'host: give --host', 'host');
    const t = await pbx.trunks.store.create({ name, ...(trunkFields(o) as { host: string }) });
    out(`Trunk ${t.name} added (${t.host}, ${t.register ? `registers as ${t.username}` : 'IP-authenticated'})`);
  }),
);
trunkOptions(trunk.command('set <name>').description('change a trunk (only the options given; it registers again)'))
  .option('--enable', 'use the trunk')
  .option('--disable', 'stop using the trunk (and unregister)')
  .action(async (name: string, o: TrunkFlags) =>
    withPbx(async (pbx) => {
      if (o['enable'] && o['disable']) throw new PbxError('invalid', 'give --enable or --disable, not both', 'enabled');
      const fields = trunkFields(o);
      const t = await pbx.trunks.store.update(name, { ...fields, ...(o['enable'] || o['disable'] ? { enabled: !!o['enable'] } : {}) });
      out(`Trunk ${t.name} changed`);
    }),
  );
trunk
  .command('rm <name>')
  .description('remove a trunk (it unregisters)')
  .action(async (name: string) =>
    withPbx(async (pbx) => {
      await pbx.trunks.store.delete(name);
      out(`Trunk ${name} removed`);
    }),
  );
trunk
  .command('list')
  .description('trunks with their registration state and last error (from the running server)')
  .option('--json', 'print JSON')
  .action(async (o: { json?: boolean }) =>
    withPbx(async (pbx) => {
      const { trunks } = await fromRunningServer<{ trunks: { name: string; host: string; register: boolean; enabled: boolean; status: { state: string; last_error: string | null; registered_until: string | null } }[] }>(pbx, '/api/trunks');
      if (o.json) return out(JSON.stringify(trunks, null, 2));
      if (trunks.length === 0) return void process.stderr.write('No trunks.\n');
      printTable(trunks.map((t) => ({ name: t.name, host: t.host, state: t.status.state, until: t.status.registered_until ?? '', last_error: t.status.last_error ?? '' })));
    }),
  );

program
  .command('routes')
  .description("the outbound and inbound routes (config.yml's dialplan), with the trunks they name")
  .option('--json', 'print JSON')
  .action(async (o: { json?: boolean }) =>
    withPbx(async (pbx) => {
      const d = pbx.config().dialplan;
      const known = (name: string) => (pbx.trunks.store.get(name) ? name : `${name} (no such trunk)`);
      if (o.json) return out(JSON.stringify({ outbound: d.outbound_routes, inbound: d.inbound_routes, inbound_default: d.inbound_default }, null, 2));
      out('Outbound (the first route whose pattern takes the number):');
      if (d.outbound_routes.length === 0) out('  none: only extensions and services can be called');
      else printTable(d.outbound_routes.map((r) => ({ route: r.name, patterns: r.patterns.join(' '), trunks: r.trunks.map(known).join(', '), caller_id: r.caller_id ?? '' })));
      out(`Emergency numbers (always out): ${d.emergency_numbers.join(', ')}`);
      out('Inbound (DID → destination):');
      if (d.inbound_routes.length > 0) printTable(d.inbound_routes.map((r) => ({ did: r.did, trunk: r.trunk ?? 'any', destination: r.destination })));
      out(`  any other DID → ${d.inbound_default}`);
    }),
  );

program
  .command('secret')
  .description('secrets in config.yml')
  .command('seal <text>')
  .description("seal a secret (e.g. voicemail.smtp.password) with this server's key; prints the value to put in config.yml")
  .action(async (text: string) => {
    const file = configPath();
    const loaded = loadConfigFile(file);
    const { SecretBox } = await import('../security/secret-box.js');
    out(SecretBox.fromKeyFile(loaded.config.security.key_file).seal(text));
  });

const reg = program.command('reg').description('SIP registrations');
reg
  .command('list')
  .description('registered phones: extension, contact, source, transport, User-Agent, expires (from the running server)')
  .option('--json', 'print JSON')
  .action(async (o: { json?: boolean }) =>
    withPbx(async (pbx) => {
      const { registrations } = await fromRunningServer<{ registrations: Record<string, unknown>[] }>(pbx, '/api/registrations');
      if (o.json) return out(JSON.stringify(registrations, null, 2));
      printTable(registrations.map(({ extension, contact, source, transport, user_agent, expires }) => ({ extension, contact, source, transport, user_agent, expires })));
    }),
  );

program
  .command('calls')
  .description('active calls (from the running server)')
  .option('--json', 'print JSON')
  .action(async (o: { json?: boolean }) =>
    withPbx(async (pbx) => {
      const { calls } = await fromRunningServer<{ calls: Record<string, unknown>[] }>(pbx, '/api/calls');
      if (o.json) return out(JSON.stringify(calls, null, 2));
      printTable(calls);
    }),
  );

program
  .command('cdr')
  .description('call detail records, newest first')
  .option('--limit <n>', 'how many', (v) => positiveInt(v, '--limit'), 20)
  .option('--extension <number>', 'calls from or to this extension')
  .option('--json', 'print JSON')
  .action(async (o: { limit: number; extension?: string; json?: boolean }) =>
    withPbx(async (pbx) => {
      const rows = await pbx.sip.calls.cdr({ limit: o.limit, extension: o.extension });
      if (o.json) return out(JSON.stringify(rows, null, 2));
      printTable(rows.map((r) => ({ started: r.started_at, caller: r.caller, callee: r.callee, result: r.result, status: r.status, hangup: r.hangup_side ?? '', seconds: r.duration_seconds })));
    }),
  );

const cert = program.command('cert').description('TLS certificates');
cert
  .command('self-signed')
  .description('make a self-signed certificate for a lab, named for server.external_ip (and --name …); --apply turns HTTPS and SIP over TLS on')
  .option('--name <name...>', 'more DNS names or addresses to include')
  .option('--days <days>', 'validity in days', (v) => positiveInt(v, '--days'), 825)
  .option('--dir <dir>', 'where to write pbx-cert.pem and pbx-key.pem (default: next to the database)')
  .option('--apply', 'set api.ssl (and server.sip_tls_port 5061 if off) in config.yml')
  .action(async (o: { name?: string[]; days: number; dir?: string; apply?: boolean }) =>
    withPbx(async (pbx) => {
      const c = pbx.config();
      const names = [...new Set([c.server.external_ip, ...(o.name ?? [])])];
      const files = selfSignedCertificate(o.dir ? resolve(o.dir) : dirname(c.database.path), names, o.days);
      if (o.apply) {
        const r = await pbx.live.update(
          {
            'api.ssl.enabled': true,
            'api.ssl.cert_file': files.cert,
            'api.ssl.key_file': files.key,
            ...(c.server.sip_tls_port === 0 ? { 'server.sip_tls_port': 5061 } : {}),
          },
          'pbx cert self-signed --apply',
        );
        if (!r.ok) throw r.error;
      }
      process.stderr.write(`Self-signed certificate for ${names.join(', ')} (${o.days} days); key ${files.key}${o.apply ? '; HTTPS and SIP over TLS turned on in ' + pbx.configFile : ''}\n`);
      out(files.cert);
    }),
  );

program
  .command('doctor')
  .description('check the set-up (ports, address, a sample fetch, certificate, firewall, devices, secrets); exit 0 only when all is well')
  .option('--json', 'print JSON')
  .action(async (o: { json?: boolean }) =>
    withPbx(async (pbx) => {
      const findings = await runDoctor(pbx.checks, (path) => fromRunningServer(pbx, path));
      const problems = findings.filter((f) => !f.ok);
      if (o.json) out(JSON.stringify({ ok: problems.length === 0, findings }, null, 2));
      else {
        for (const f of findings) {
          process.stdout.write(`${f.ok ? '✓' : '✗'} ${f.message}\n`);
          if (f.fix) process.stdout.write(`    fix: ${f.fix}\n`);
        }
        out(problems.length ? `${problems.length} problem(s) found` : 'No problems found');
      }
      if (problems.length) process.exitCode = 1;
    }),
  );

function positiveInt(v: string, what: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new PbxError('invalid', `${what} must be a positive whole number`);
  return n;
}

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof PbxError || err instanceof TemplateError) {
    process.stderr.write(`pbx: ${err.message}\n`);
    process.exit(err instanceof ConfigError ? 2 : 1);
  }
  process.stderr.write(`pbx: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
