// A SIP provider's far end played by SIPp (test/sipp/carrier-uas.template.xml): it
// challenges the INVITE and checks the trunk's credentials, answers, echoes the RTP it
// gets (-rtp_echo) unless told not to, and ends the call as `hangup` says: it waits for
// the caller's BYE (after a hold, with `hold`), or hangs up itself after 1.5 s.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SCENARIOS, sipp, type SippRun } from './sipp.ts';

/** The caller's BYE, answered. */
const BYE_FROM_CALLER = `<recv request="BYE"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>`;

const HANGUP = {
  caller: BYE_FROM_CALLER,
  // The caller puts the call on hold: a re-INVITE whose SDP says sendonly is answered recvonly; then its BYE.
  hold: `<recv request="INVITE">
    <action>
      <ereg regexp="a=sendonly" search_in="body" check_it="true" assign_to="held"/>
    </action>
  </recv>
  <Reference variables="held"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:carrier@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=carrier 1 2 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=recvonly

    ]]>
  </send>
  <recv request="ACK"/>
  ${BYE_FROM_CALLER}`,
  // The carrier asked the pbx to refresh the session (RFC 4028, refresher=uac): an UPDATE comes before the caller's BYE.
  refreshed: `<recv request="UPDATE"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      [last_Session-Expires:]
      Require: timer
      Content-Length: 0

    ]]>
  </send>
  ${BYE_FROM_CALLER}`,
  // dtmf_mode: info: the phone's key press 5 comes as SIP INFO (application/dtmf-relay);
  // the carrier sends key 9 back the same way, then waits for the caller's BYE.
  keys: `<recv request="INFO">
    <action>
      <ereg regexp="^Signal=5[^0-9]+Duration=[0-9]+" search_in="body" check_it="true" assign_to="key"/>
    </action>
  </recv>
  <Reference variables="key"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <send retrans="500">
    <![CDATA[
      INFO [$remote_contact] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$remote_to];tag=carrier[call_number]
      To: [$remote_from]
      [last_Call-ID:]
      CSeq: 1 INFO
      Max-Forwards: 70
      Content-Type: application/dtmf-relay
      Content-Length: [len]

      Signal=9
      Duration=160
    ]]>
  </send>
  <recv response="200"/>
  ${BYE_FROM_CALLER}`,
  carrier: `<pause milliseconds="1500"/>
  <send retrans="500">
    <![CDATA[
      BYE [$remote_contact] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$remote_to];tag=carrier[call_number]
      To: [$remote_from]
      [last_Call-ID:]
      CSeq: 1 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>`,
};

export type CarrierHangup = keyof typeof HANGUP;

export interface CarrierOptions { dir: string; hangup: CarrierHangup; port: number; ip: string; mediaPort: number; echo?: boolean; user: string; password: string; answerHeaders?: string[]; transport?: 'udp' | 'tcp' }

export function carrierUas(o: CarrierOptions): Promise<SippRun> {
  const scenario = join(o.dir, `carrier-uas-${o.hangup}.xml`);
  const template = readFileSync(join(SCENARIOS, 'carrier-uas.template.xml'), 'utf8');
  const headers = (o.answerHeaders ?? []).map((h) => `      ${h}\n`).join('');
  writeFileSync(scenario, template.replace('HANGUP_STEPS', HANGUP[o.hangup]).replace('      ANSWER_HEADERS\n', headers));
  return sipp({ scenario, rows: [`${o.user};${o.password}`], localPort: o.port, localIp: o.ip, dir: o.dir, timeoutSeconds: 20, extra: [...(o.echo === false ? [] : ['-rtp_echo']), ...(o.transport === 'tcp' ? ['-t', 't1'] : []), '-mp', String(o.mediaPort), '-trace_msg'] });
}

/** A carrier's SIPp, once it has bound its port (or has already ended: the test then sees why in `run`). */
export async function readyCarrierUas(o: CarrierOptions): Promise<{ run: Promise<SippRun> }> {
  const run = carrierUas(o);
  await Promise.race([listening(o.ip, o.port, o.transport), run.then(() => undefined, () => undefined)]);
  return { run };
}

/**
 * Resolves once a socket is bound to ip:port (UDP) or listening there (TCP), from Linux's
 * /proc/net: a SIPp just started may take more than a second to bind on a loaded machine,
 * and a test that sleeps a fixed time then calls it sees a timeout instead of an answer.
 */
export async function listening(ip: string, port: number, transport: 'udp' | 'tcp' = 'udp', timeoutMs = 10_000): Promise<void> {
  const local = `${ip.split('.').reverse().map((b) => Number(b).toString(16).padStart(2, '0')).join('')}:${port.toString(16).padStart(4, '0')}`.toUpperCase();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const table = readFileSync(`/proc/net/${transport}`, 'utf8');
    // TCP: state 0A is LISTEN; a bound UDP socket is enough.
    if (table.split('\n').some((l) => { const f = l.trim().split(/\s+/); return f[1] === local && (transport === 'udp' || f[3] === '0A'); })) return;
    if (Date.now() > deadline) throw new Error(`nothing ${transport === 'udp' ? 'bound to' : 'listening on'} ${ip}:${port} (${transport}) after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
