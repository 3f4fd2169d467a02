// Runs a plan of SIP actions from inside a network namespace (see netns.ts) and prints
// one JSON line with each step's result: a status code, or null for no answer at all.
import { createSocket } from 'node:dgram';
import { TestUa } from './sip-client.ts';
import { RtpPeer } from './rtp-peer.ts';

type Step =
  | { op: 'register'; user: string; password: string }
  | { op: 'guesses'; user: string; passwords: string[]; paceMs: number }
  | { op: 'options' }
  | { op: 'raw'; text: string }
  | { op: 'sleep'; ms: number }
  // `calls` calls to `dial` as user/password, one every `staggerMs` (under the flood limit),
  // each pressing `keys` (RFC 4733) once answered; each gives 'hung up' when the pbx sent
  // BYE, or the INVITE's status.
  | { op: 'keyed-calls'; user: string; password: string; dial: string; keys: string; calls: number; staggerMs: number }
  // An OPTIONS from a fresh socket: its status, or null when nothing answers (a ban).
  | { op: 'probe' };

interface Plan {
  server: { host: string; port: number };
  local: string;
  steps: Step[];
}

const plan = JSON.parse(process.argv[2]!) as Plan;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const results: unknown[] = [];
let phone: TestUa | undefined;

async function ua(user: string, password: string): Promise<TestUa> {
  const u = await new TestUa(plan.server, user, password).open(0, plan.local);
  u.sentBy = `${plan.local}:${u.port}`;
  return u;
}

const status = (p: Promise<{ reply: { status: number } } | { status: number }>) =>
  p.then((r) => ('reply' in r ? r.reply.status : r.status)).catch(() => null);

for (const step of plan.steps) {
  if (step.op === 'register') {
    phone = await ua(step.user, step.password);
    results.push(await status(phone.register({ expires: 600 })));
  } else if (step.op === 'guesses') {
    const statuses: (number | null)[] = [];
    for (const pw of step.passwords) {
      const t0 = Date.now();
      const g = await ua(step.user, pw);
      statuses.push(await status(g.register({ expires: 600 })));
      g.close();
      await sleep(Math.max(0, step.paceMs - (Date.now() - t0)));
    }
    results.push(statuses);
  } else if (step.op === 'options') {
    results.push(await status(phone!.request('OPTIONS', { timeoutMs: 1500 })));
  } else if (step.op === 'raw') {
    const s = createSocket('udp4');
    await new Promise<void>((ok) => s.bind(0, plan.local, () => ok()));
    await new Promise<void>((ok) => s.send(step.text.replace(/\n/g, '\r\n'), plan.server.port, plan.server.host, () => ok()));
    s.close();
    results.push('sent');
  } else if (step.op === 'keyed-calls') {
    const one = async (_: unknown, i: number): Promise<string | number> => {
      await sleep(i * step.staggerMs);
      const u = await ua(step.user, step.password);
      const ear = await new RtpPeer().open(plan.local);
      try {
        const call = await u.invite(step.dial, ear.sdp());
        if (call.status !== 200) return call.status;
        ear.start(call.body, plan.server.host);
        ear.press(step.keys);
        return await u.waitRequest((r) => r.method === 'BYE', 30_000).then(
          () => 'hung up',
          () => 'no BYE',
        );
      } finally {
        ear.close();
        u.close();
      }
    };
    results.push(await Promise.all(Array.from({ length: step.calls }, one)));
  } else if (step.op === 'probe') {
    const u = await ua('probe', 'none');
    results.push(await status(u.request('OPTIONS', { timeoutMs: 1500 })));
    u.close();
  } else if (step.op === 'sleep') {
    await sleep(step.ms);
    results.push('slept');
  }
}
phone?.close();
process.stdout.write(`${JSON.stringify(results)}\n`);
process.exit(0);
