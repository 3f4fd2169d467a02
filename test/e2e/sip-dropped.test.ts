// Requests the server drops without an answer (scanner User-Agents) must not leave
// server transactions behind: a scanner would otherwise grow the transaction table
// without bound. Over real UDP against the built server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { createToken, freePort, freeSipPort, RunningServer, tempDir, writeConfig } from '../helpers/server.ts';

const dir = tempDir();
let server: RunningServer;
let token: string;
let sipPort: number;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  sipPort = await freeSipPort();
  const port = await freePort();
  const file = writeConfig(dir, { port, sipPort });
  token = await createToken(file);
  server = await RunningServer.start(file, port);
});
after(async () => {
  await server?.stop();
});

interface Transactions {
  requestsIn: number;
  requestsRefused: number;
  active: { server: number; client: number };
}

async function transactions(): Promise<Transactions> {
  const r = await server.api('GET', '/api/status', token);
  assert.equal(r.status, 200);
  return (r.json as { sip: { transactions: Transactions } }).sip.transactions;
}

test('3,000 requests from a scanner User-Agent are dropped without a transaction or an answer', async () => {
  const before = await transactions();
  const sock = createSocket('udp4');
  await new Promise<void>((ok) => sock.bind(0, '127.0.0.1', () => ok()));
  const answers: string[] = [];
  sock.on('message', (m) => answers.push(m.toString('latin1')));
  const local = sock.address().port;
  const N = 3000;
  try {
    for (let i = 0; i < N; i++) {
      const method = i % 3 === 0 ? 'INVITE' : i % 3 === 1 ? 'REGISTER' : 'OPTIONS';
      const msg =
        `${method} sip:100@127.0.0.1:${sipPort} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bKscan${i};rport\r\n` +
        `Max-Forwards: 70\r\nFrom: <sip:100@127.0.0.1>;tag=s${i}\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: scan-${i}@127.0.0.1\r\n` +
        `CSeq: 1 ${method}\r\nUser-Agent: friendly-scanner\r\nContact: <sip:100@127.0.0.1:${local}>\r\nContent-Length: 0\r\n\r\n`;
      sock.send(msg, sipPort, '127.0.0.1');
      if (i % 200 === 199) await sleep(20); // stay inside the socket buffers; this is not a flood test
    }
    // Until all of them have arrived (UDP on loopback loses none at this pace).
    let now = await transactions();
    for (let t = 0; t < 50 && now.requestsIn - before.requestsIn < N; t++) {
      await sleep(100);
      now = await transactions();
    }
    assert.equal(now.requestsIn - before.requestsIn, N, 'every request reached the stack');
    assert.equal(now.active.server, before.active.server, 'no server transaction is left behind');
    assert.equal(now.requestsRefused - before.requestsRefused, N, 'every one was refused before a transaction was made');
    assert.equal(answers.length, 0, 'a scanner gets no answer at all');
  } finally {
    sock.close();
  }
});
