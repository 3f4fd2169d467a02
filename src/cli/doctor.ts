// `pbx doctor`: the troubleshooting checklist admins used to run by hand, with the fix
// for every finding. Exit status 0 only when nothing is wrong.
import { execFileSync } from 'node:child_process';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tftpAddress } from '../provisioning/tftp.js';
import { certificateFindings, deviceFindings, provisioningAccessFindings, externalIpFindings, finding, weakSecretFindings, type DoctorSources, type Finding } from '../diagnostics/checks.js';

export type { Finding };

/** Asks the running server's API (GET), as `pbx` CLI commands do (cli/live.ts). */
export type AskServer = <T>(path: string) => Promise<T>;

export async function runDoctor(pbx: DoctorSources, ask: AskServer): Promise<Finding[]> {
  const c = pbx.config();
  const findings: Finding[] = [];
  const add = (check: string, ok: boolean, message: string, fix?: string) => findings.push(finding(check, ok, message, fix));
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
  findings.push(...externalIpFindings(pbx));

  // 3. Does a fetch through the address phones use work? The probe asks for a common
  // file on a device's own listener: a phone's file would be recorded as its fetch (its
  // state, history and sync hash), which a diagnostic must never change.
  const ip = c.server.external_ip;
  const sample = pbx.devices()[0];
  const base = sample ? pbx.configUrl(sample) : `${scheme}://${ip.includes(':') ? `[${ip}]` : ip}:${c.api.port}/provision/`;
  const url = base.replace(/\/provision\/.*$/, '/provision/y000000000000.boot');
  const fetched = await get(url);
  if (fetched.error) add('fetch', false, `Fetching ${url} failed: ${fetched.error}`, 'Phones use this URL: make the address reachable (listener on api.host, firewall) or fix server.external_ip');
  else if (fetched.status === 200) add('fetch', true, `${url} answers 200`);
  else add('fetch', false, `${url} answers ${fetched.status}`, 'See the server log for the request; check the device and its template');

  // TFTP, when on: a read of a common file answered by us.
  const tftp = tftpAddress(c);
  if (tftp) {
    const host = ['0.0.0.0', '::'].includes(tftp.host) ? '127.0.0.1' : tftp.host;
    const answer = await tftpProbe(host, tftp.port, 'y000000000000.boot');
    if (answer === 'data') add('tftp', true, `TFTP on UDP port ${tftp.port} serves phone files`);
    else if (answer === null) add('tftp', false, `Nothing answers TFTP on UDP ${host}:${tftp.port}`, 'Start the server, check provisioning.tftp_port/tftp_host, and allow UDP 69 (or that port) in the firewall');
    else add('tftp', false, `TFTP on UDP port ${tftp.port} answered: ${answer}`, 'See the server log for the request');
  }

  // 4. HTTPS: will phones accept the certificate? Is plain HTTP provisioning there?
  findings.push(...certificateFindings(pbx));

  // 5. Local firewall rules that block the ports.
  const blocked = firewallBlocks([c.api.port, c.server.sip_port, ...(tftp ? [tftp.port] : [])]);
  if (blocked.length) add('firewall', false, `Local firewall rules mention the pbx ports with a drop/reject: ${blocked.join(' | ')}`, 'Allow TCP api.port and UDP/TCP server.sip_port (e.g. ufw allow 8080/tcp; ufw allow 5060)');
  else add('firewall', true, 'No local firewall rule blocks the pbx ports');

  // 6. Devices never provisioned, stale, or still on an old port. 7. Extensions with weak secrets.
  findings.push(...provisioningAccessFindings(pbx), ...(await deviceFindings(pbx)), ...(await weakSecretFindings(pbx)));

  // 8. Trunks: registered (the running server's view), the provider answers OPTIONS from
  // here, and it sees this host at server.external_ip (else: one-way audio, lost calls).
  await trunkFindings(pbx, ask, add);

  // 9. One-way audio on the day's anchored calls, and what it points to.
  const oneWay = await pbx.oneWayCalls();
  if (oneWay.callee > 0) add('one-way-audio', false, `${oneWay.callee} of the last day's ${oneWay.total} outside calls had no audio from the far end`, `RTP from the provider does not reach this host: open the media ports (media.rtp_port_min–max, or rtpengine's) in the firewall and forward them on the NAT, and check server.external_ip (${c.server.external_ip}) is the public address (the trunk checks above say what the provider sees)`);
  if (oneWay.caller > 0) add('one-way-audio-phones', false, `${oneWay.caller} of the last day's ${oneWay.total} outside calls had no audio from the phone`, 'RTP from those phones does not reach this host: a NAT or firewall between them drops it, or the phones send to another address (check server.external_ip is reachable from the phones)');
  if (oneWay.total > 0 && oneWay.callee + oneWay.caller === 0) add('one-way-audio', true, `The last day's ${oneWay.total} outside calls had audio both ways`);

  return findings;
}

async function trunkFindings(pbx: DoctorSources, ask: AskServer, add: (check: string, ok: boolean, message: string, fix?: string) => void): Promise<void> {
  const trunks = pbx.trunks().filter((t) => t.enabled);
  if (trunks.length === 0) return;
  const running = await runningServer(ask);
  // What the running server advertises (with external_ip: auto, what STUN told it).
  const ip = running?.externalIp ?? pbx.config().server.external_ip;
  for (const t of trunks) {
    const state = running?.trunks[t.name];
    if (t.register) {
      if (!running) add(`trunk-${t.name}-registered`, false, `Trunk ${t.name}: the running server did not say whether it is registered`, 'Start the server; its API must answer on api.port');
      else if (state?.state === 'registered') add(`trunk-${t.name}-registered`, true, `Trunk ${t.name} is registered`);
      else add(`trunk-${t.name}-registered`, false, `Trunk ${t.name} is not registered (${state?.state ?? 'unknown'}${state?.last_error ? `: ${state.last_error}` : ''})`, 'Check the trunk\'s username, auth_username, password and host (pbx trunk list); the server log names each attempt');
    }
    const target = await pbx.trunkTarget(t.name).catch(() => null);
    if (!target) {
      add(`trunk-${t.name}-options`, false, `Trunk ${t.name}: its host does not resolve from this host`, 'Check the host name and DNS (SRV or A records)');
      continue;
    }
    if (target.transport !== 'udp') continue; // the probe speaks UDP; the server's own OPTIONS cover TCP/TLS
    const started = Date.now();
    const reply = await sipOptions(target.address, target.port);
    const where = `${target.address}:${target.port}`;
    if (reply === null) {
      add(`trunk-${t.name}-options`, false, `Trunk ${t.name}: ${where} does not answer OPTIONS from this host`, 'Check the host and port, and that outgoing UDP to the provider is allowed');
      continue;
    }
    add(`trunk-${t.name}-options`, true, `Trunk ${t.name}: ${where} answers OPTIONS (${/^SIP\/2\.0 (\d{3})/.exec(reply)?.[1] ?? '?'}, ${Date.now() - started} ms)`);
    // The provider writes where our request came from into Via (received=, RFC 3261 §18.2.1).
    const seen = /^Via:.*?;received=([0-9a-fA-F:.]+)/im.exec(reply)?.[1];
    if (seen && seen !== ip) {
      add(`trunk-${t.name}-address`, false, `Trunk ${t.name}: the provider sees this host at ${seen}, but server.external_ip is ${ip}: SDP and Contact name an address the provider does not send to (one-way audio, missed inbound calls)`, `Set server.external_ip to ${seen}, or to auto (STUN)`);
    } else if (seen) add(`trunk-${t.name}-address`, true, `Trunk ${t.name}: the provider sees this host at ${seen}, as server.external_ip says`);
  }
}

/** The running server's address in use and each trunk's state; null: no answer. */
async function runningServer(ask: AskServer): Promise<{ externalIp: string; trunks: Record<string, { state: string; last_error: string | null }> } | null> {
  try {
    const [trunks, status] = await Promise.all([ask<{ trunks: { name: string; status: { state: string; last_error: string | null } }[] }>('/api/trunks'), ask<{ external_ip: string }>('/api/status')]);
    return { externalIp: status.external_ip, trunks: Object.fromEntries(trunks.trunks.map((t) => [t.name, t.status])) };
  } catch {
    return null;
  }
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

/**
 * One UDP question to host:port: `ask(sock)` sends it once bound; `answer` turns the
 * first reply into the result (it may reply itself, then call `done`). Null when
 * nothing answers within 1.5 s.
 */
function udpProbe<T>(
  host: string,
  ask: (sock: Socket) => void,
  answer: (message: Buffer, from: RemoteInfo, sock: Socket, done: (v: T | null) => void) => void,
): Promise<T | null> {
  return new Promise((ok) => {
    const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const done = (v: T | null) => {
      clearTimeout(timer);
      sock.close();
      ok(v);
    };
    const timer = setTimeout(() => done(null), 1500);
    sock.on('message', (m, from) => answer(m, from, sock, done));
    sock.on('error', () => done(null));
    sock.bind(0, () => ask(sock));
  });
}

/** Reads the first block of a file over TFTP: 'data', the server's error text, or null (no answer). */
function tftpProbe(host: string, port: number, file: string): Promise<string | null> {
  return udpProbe<string>(
    host,
    (sock) => sock.send(Buffer.concat([Buffer.from([0, 1]), Buffer.from(`${file}\0octet\0`)]), port, host),
    (m, from, sock, done) => {
      const op = m.readUInt16BE(0);
      if (op === 3 || op === 6) {
        // End the transfer politely: ERROR 0 to the transfer's own port (its TID).
        sock.send(Buffer.concat([Buffer.from([0, 5, 0, 0]), Buffer.from('pbx doctor probe done\0')]), from.port, from.address, () => done('data'));
      } else if (op === 5) done(m.subarray(4).toString('latin1').replace(/\0.*$/s, '') || `error ${m.readUInt16BE(2)}`);
      else done(`an unexpected packet (opcode ${op})`);
    },
  );
}

function sipOptions(host: string, port: number): Promise<string | null> {
  const h = host.includes(':') ? `[${host}]` : host;
  return udpProbe<string>(
    host,
    (sock) =>
      sock.send(
        `OPTIONS sip:${h}:${port} SIP/2.0\r\nVia: SIP/2.0/UDP ${h}:${sock.address().port};branch=z9hG4bKdoctor${Date.now()};rport\r\nMax-Forwards: 70\r\nFrom: <sip:doctor@${h}>;tag=doc\r\nTo: <sip:${h}>\r\nCall-ID: doctor-${Date.now()}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`,
        port,
        host,
      ),
    (m, _from, _sock, done) => done(m.toString('latin1')),
  );
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
