// `pbx doctor`: the troubleshooting checklist admins used to run by hand, with the fix
// for every finding. Exit status 0 only when nothing is wrong.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { hostAddresses } from '../util/net.js';
import type { Pbx } from '../app.js';
import { isWeakSecret } from '../security/tokens.js';
import { externalIpProblem } from '../provisioning/diagnostics.js';

export interface Finding {
  check: string;
  ok: boolean;
  message: string;
  fix?: string;
}

export async function runDoctor(pbx: Pbx): Promise<Finding[]> {
  const c = pbx.config();
  const findings: Finding[] = [];
  const add = (check: string, ok: boolean, message: string, fix?: string) => findings.push({ check, ok, message, ...(ok ? {} : { fix }) });
  const scheme = c.api.ssl.enabled ? 'https' : 'http';
  const local = ['0.0.0.0', '::'].includes(c.api.host) ? '127.0.0.1' : c.api.host;

  // 1. Is anything listening on the API port, and is it us?
  const health = await get(`${scheme}://${local}:${c.api.port}/health`);
  if (health.error) {
    add('api-port', false, `Nothing answers on ${c.api.host}:${c.api.port} (${health.error})`, 'Start the server (systemctl start pbx), or check api.host/api.port');
  } else if (health.status === 200 && /"service":"pbx"/.test(health.body ?? '')) {
    add('api-port', true, `pbx answers on port ${c.api.port}`);
  } else {
    add('api-port', false, `Port ${c.api.port} is held by another program (it answered ${health.status}${holder(c.api.port)})`, `Stop that program or move pbx: set api.port in ${pbx.configFile}`);
  }

  // SIP: an OPTIONS over UDP answered by us.
  const sip = await sipOptions(['0.0.0.0', '::'].includes(c.server.sip_host) ? '127.0.0.1' : c.server.sip_host, c.server.sip_port);
  if (sip === null) add('sip-port', false, `Nothing answers SIP on UDP port ${c.server.sip_port}`, 'Start the server, or check server.sip_port and server.sip_host');
  else if (/^Server: pbx\//m.test(sip)) add('sip-port', true, `pbx answers SIP on UDP port ${c.server.sip_port}`);
  else add('sip-port', false, `UDP port ${c.server.sip_port} is answered by another SIP server (${/^Server: (.*)$/m.exec(sip)?.[1] ?? 'unknown'})`, 'Stop the other SIP server or change server.sip_port');

  // 2. Is server.external_ip an address of this host?
  const ip = c.server.external_ip;
  const ipProblem = externalIpProblem(ip);
  if (ipProblem) {
    add('external-ip', false, ipProblem, `Set server.external_ip to this host's LAN address (${hostAddresses(true).join(', ') || 'none found'}), or to the public address of a NAT that forwards the ports here`);
  } else add('external-ip', true, `server.external_ip ${ip} is an address of this host`);

  // 3. Does a fetch of a sample device URL through the external address work?
  const sample = pbx.devices.list()[0];
  const url = sample ? pbx.files.configUrl(sample) : `${scheme}://${ip.includes(':') ? `[${ip}]` : ip}:${c.api.port}/provision/y000000000000.boot`;
  const fetched = await get(url);
  if (fetched.error) add('fetch', false, `Fetching ${url} failed: ${fetched.error}`, 'Phones use this URL: make the address reachable (listener on api.host, firewall) or fix server.external_ip');
  else if (fetched.status === 200) add('fetch', true, `${url} answers 200`);
  // The account file asks a phone for its provisioning credential: the listener works.
  else if (fetched.status === 401 && /^Digest /i.test(fetched.challenge ?? '')) add('fetch', true, `${url} answers 401 with a digest challenge (phones show their provisioning credential)`);
  else add('fetch', false, `${url} answers ${fetched.status}`, 'See the server log for the request; check the device and its template');

  // 4. HTTPS: will phones accept the certificate? Is plain HTTP provisioning there?
  if (c.api.ssl.enabled) {
    try {
      const cert = new X509Certificate(readFileSync(c.api.ssl.cert_file));
      const problems: string[] = [];
      if (cert.issuer === cert.subject) problems.push('self-signed');
      if (new Date(cert.validTo).getTime() < Date.now()) problems.push(`expired on ${cert.validTo}`);
      const nameOk = cert.checkIP(ip) !== undefined || cert.checkHost(ip) !== undefined;
      if (!nameOk) problems.push(`not valid for ${ip}`);
      if (problems.length) {
        add('certificate', false, `The HTTPS certificate is ${problems.join(', ')}: phones that validate certificates will refuse to provision`, 'Use a certificate from a CA the phones trust, issued for server.external_ip (or its DNS name), or serve provisioning over plain HTTP on its own port');
      } else add('certificate', true, 'The HTTPS certificate is CA-issued, current and names server.external_ip');
    } catch (err) {
      add('certificate', false, `Cannot read api.ssl.cert_file: ${(err as Error).message}`, 'Point api.ssl.cert_file at a PEM certificate');
    }
    if (c.provisioning.http_port === 0) {
      add('plain-http', false, 'Provisioning is only served over HTTPS', 'Phones that cannot validate the certificate need plain HTTP: set provisioning.http_port');
    } else add('plain-http', true, `Provisioning is also served over plain HTTP on port ${c.provisioning.http_port}`);
  }

  // 5. Local firewall rules that block the ports.
  const blocked = firewallBlocks([c.api.port, c.server.sip_port]);
  if (blocked.length) add('firewall', false, `Local firewall rules mention the pbx ports with a drop/reject: ${blocked.join(' | ')}`, 'Allow TCP api.port and UDP/TCP server.sip_port (e.g. ufw allow 8080/tcp; ufw allow 5060)');
  else add('firewall', true, 'No local firewall rule blocks the pbx ports');

  // 6. Devices never provisioned, stale, or still on an old port.
  const states = pbx.devices.list().map((d) => ({ mac: d.mac, state: pbx.resync.state(d) }));
  const bad = (st: string) => states.filter((s) => s.state === st).map((s) => s.mac);
  const never = bad('never provisioned');
  const stale = bad('stale');
  const old = bad('fetched via old port');
  if (never.length) add('devices-never', false, `${never.length} device(s) never fetched their file: ${never.join(', ')}`, 'Point them at the provisioning URL (pbx provision url <mac>) or DHCP option 66; see docs/PROVISIONING.md');
  if (stale.length) add('devices-stale', false, `${stale.length} device(s) have not fetched their changed file: ${stale.join(', ')}`, 'pbx device resync --stale (they must be registered), or reboot them');
  if (old.length) add('devices-old-port', false, `${old.length} device(s) last fetched through an old port: ${old.join(', ')}`, 'pbx device resync <mac>: their next fetch uses the new URL');
  if (!never.length && !stale.length && !old.length) add('devices', true, `${states.length} device(s) in sync or pending`);

  // 7. Extensions with weak secrets.
  const weak = pbx.extensions.list().filter((e) => isWeakSecret(e.secret, e.number)).map((e) => e.number);
  if (weak.length) add('weak-secrets', false, `Extension(s) with weak SIP secrets: ${weak.join(', ')}`, 'PUT /api/extensions/{number} {"regenerate_password": true}, then resync their phones');
  else add('weak-secrets', true, 'Every extension has a strong SIP secret');

  return findings;
}

type Got = { status: number; body: string; challenge?: string; error?: undefined } | { status?: undefined; body?: undefined; challenge?: undefined; error: string };

function get(url: string): Promise<Got> {
  return new Promise((ok) => {
    const req = (url.startsWith('https') ? httpsRequest : httpRequest)(url, { timeout: 3000, rejectUnauthorized: false, headers: { 'user-agent': 'pbx-doctor' } }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      const challenge = [res.headers['www-authenticate'] ?? []].flat()[0];
      res.on('end', () => ok({ status: res.statusCode ?? 0, body, challenge }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err) => ok({ error: (err as NodeJS.ErrnoException).code ?? err.message }));
    req.end();
  });
}

function sipOptions(host: string, port: number): Promise<string | null> {
  return new Promise((ok) => {
    const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const done = (v: string | null) => {
      clearTimeout(timer);
      sock.close();
      ok(v);
    };
    const timer = setTimeout(() => done(null), 1500);
    sock.on('message', (m) => done(m.toString('latin1')));
    sock.on('error', () => done(null));
    sock.bind(0, () => {
      const h = host.includes(':') ? `[${host}]` : host;
      const lp = sock.address().port;
      sock.send(
        `OPTIONS sip:${h}:${port} SIP/2.0\r\nVia: SIP/2.0/UDP ${h}:${lp};branch=z9hG4bKdoctor${Date.now()};rport\r\nMax-Forwards: 70\r\nFrom: <sip:doctor@${h}>;tag=doc\r\nTo: <sip:${h}>\r\nCall-ID: doctor-${Date.now()}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`,
        port,
        host,
      );
    });
  });
}

/** Who holds a TCP port, when `ss` can tell. */
function holder(port: number): string {
  try {
    const out = execFileSync('ss', ['-ltnpH', `sport = :${port}`], { encoding: 'utf8', timeout: 2000 });
    const proc = /users:\(\("([^"]+)",pid=(\d+)/.exec(out);
    return proc ? `; process ${proc[1]} pid ${proc[2]}` : '';
  } catch {
    return '';
  }
}

/** Rules of ufw, nftables or iptables (whichever is present) that drop or reject a port. */
function firewallBlocks(ports: number[]): string[] {
  const sources: [string, string[]][] = [
    ['ufw', ['status']],
    ['nft', ['list', 'ruleset']],
    ['iptables', ['-S']],
  ];
  const hits: string[] = [];
  for (const [cmd, args] of sources) {
    let out: string;
    try {
      out = execFileSync(cmd, args, { encoding: 'utf8', timeout: 3000, stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      continue;
    }
    for (const line of out.split('\n')) {
      if (!/drop|reject|deny/i.test(line)) continue;
      if (ports.some((p) => new RegExp(`(dport|dpt|port)\\D{0,3}${p}\\b|^${p}(/|\\s)`, 'i').test(line.trim()))) hits.push(`${cmd}: ${line.trim()}`);
    }
  }
  return hits;
}
