// A SIP provider's far end played by SIPp (test/sipp/carrier-uas.template.xml): it
// challenges the INVITE and checks the trunk's credentials, answers, echoes the RTP it
// gets (-rtp_echo) unless told not to, and ends the call as `hangup` says: it waits for
// the caller's BYE, or hangs up itself after 1.5 s.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SCENARIOS, sipp, type SippRun } from './sipp.ts';

const HANGUP = {
  caller: `<recv request="BYE"/>
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
  </send>`,
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

export function carrierUas(o: { dir: string; hangup: CarrierHangup; port: number; ip: string; mediaPort: number; echo?: boolean; user: string; password: string }): Promise<SippRun> {
  const scenario = join(o.dir, `carrier-uas-${o.hangup}.xml`);
  writeFileSync(scenario, readFileSync(join(SCENARIOS, 'carrier-uas.template.xml'), 'utf8').replace('HANGUP_STEPS', HANGUP[o.hangup]));
  return sipp({ scenario, rows: [`${o.user};${o.password}`], localPort: o.port, localIp: o.ip, dir: o.dir, timeoutSeconds: 20, extra: [...(o.echo === false ? [] : ['-rtp_echo']), '-mp', String(o.mediaPort), '-trace_msg'] });
}
