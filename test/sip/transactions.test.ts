// The four RFC 3261 §17 transaction state machines, driven with scaled-down timers
// (T1 = 10 ms) over a recording flow, following the state diagrams.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMessage } from '../../src/sip/parser.ts';
import { makeResponse, type SipRequest, type SipResponse } from '../../src/sip/message.ts';
import type { Flow } from '../../src/sip/transport.ts';
import { InviteClientTransaction, NonInviteClientTransaction } from '../../src/sip/transactions/client.ts';
import { InviteServerTransaction, NonInviteServerTransaction } from '../../src/sip/transactions/server.ts';
import { TimerSet, TransactionState } from '../../src/sip/transactions/timers.ts';

const T = { T1: 10, T2: 80, T4: 100 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function flow(reliable = false): Flow & { sent: string[] } {
  const sent: string[] = [];
  return {
    id: 'test', transport: reliable ? 'tcp' : 'udp', reliable, remoteAddress: '127.0.0.1', remotePort: 5062, localAddress: '127.0.0.1', localPort: 5060,
    sent,
    send(d: Buffer) {
      sent.push(d.toString('latin1'));
      return true;
    },
    isOpen: () => true,
  };
}

function request(method: string): SipRequest {
  return parseMessage(
    Buffer.from(`${method} sip:bob@example.org SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKtx1\r\nMax-Forwards: 70\r\nFrom: <sip:alice@example.org>;tag=a\r\nTo: <sip:bob@example.org>\r\nCall-ID: tx-test\r\nCSeq: 1 ${method}\r\nContent-Length: 0\r\n\r\n`),
  ) as SipRequest;
}

function user() {
  const got: { responses: SipResponse[]; timeouts: number } = { responses: [], timeouts: 0 };
  return { got, user: { response: (r: SipResponse) => got.responses.push(r), timeout: () => got.timeouts++, transportError: () => {} } };
}

const owner = () => {
  const o = { done: 0, terminated: () => o.done++ };
  return o;
};

describe('INVITE client transaction (§17.1.1)', () => {
  test('Calling: Timer A retransmits with doubling intervals until a response; Timer B times out', async () => {
    const f = flow();
    const { got, user: u } = user();
    const o = owner();
    const tx = new InviteClientTransaction('k', request('INVITE'), f, u, o, T);
    tx.start();
    await sleep(75); // sends at 0, 10, 30, 70
    assert.ok(f.sent.length >= 3 && f.sent.length <= 5, `retransmissions: ${f.sent.length}`);
    await sleep(64 * T.T1);
    assert.equal(got.timeouts, 1, 'Timer B');
    assert.equal(tx.state, TransactionState.Terminated);
    assert.equal(o.done, 1);
  });

  test('a 1xx moves to Proceeding and stops Timer A; a 486 is ACKed, also when retransmitted', async () => {
    const f = flow();
    const { got, user: u } = user();
    const inv = request('INVITE');
    const tx = new InviteClientTransaction('k', inv, f, u, owner(), T);
    tx.start();
    tx.receiveResponse(makeResponse(inv, 180, undefined, 'b'));
    assert.equal(tx.state, TransactionState.Proceeding);
    const before = f.sent.length;
    await sleep(50);
    assert.equal(f.sent.length, before, 'no retransmission in Proceeding');
    const busy = makeResponse(inv, 486, undefined, 'b');
    tx.receiveResponse(busy);
    assert.equal(tx.state, TransactionState.Completed);
    assert.match(f.sent.at(-1)!, /^ACK sip:bob@example\.org SIP\/2\.0/);
    assert.match(f.sent.at(-1)!, /CSeq: 1 ACK/);
    assert.match(f.sent.at(-1)!, /To: <sip:bob@example\.org>;tag=b/, 'the ACK carries the response To tag');
    tx.receiveResponse(busy);
    assert.equal(f.sent.filter((s) => s.startsWith('ACK')).length, 2, 're-ACK on a retransmitted final');
    assert.equal(got.responses.map((r) => r.status).join(), '180,486', 'the TU sees the final once');
  });

  test('Timer B does not end a transaction that has reached Proceeding (the phone is ringing)', async () => {
    const { got, user: u } = user();
    const inv = request('INVITE');
    const tx = new InviteClientTransaction('k', inv, flow(), u, owner(), T);
    tx.start();
    tx.receiveResponse(makeResponse(inv, 180, undefined, 'b'));
    await sleep(64 * T.T1 + 40);
    assert.equal(got.timeouts, 0);
    assert.equal(tx.state, TransactionState.Proceeding);
    tx.dispose();
  });

  test('a 2xx goes to Accepted (RFC 6026): retransmitted 2xx still reach the TU, no ACK from the transaction', () => {
    const f = flow();
    const { got, user: u } = user();
    const inv = request('INVITE');
    const tx = new InviteClientTransaction('k', inv, f, u, owner(), T);
    tx.start();
    const ok = makeResponse(inv, 200, undefined, 'b');
    tx.receiveResponse(ok);
    tx.receiveResponse(ok);
    assert.equal(tx.state, TransactionState.Accepted);
    assert.equal(got.responses.length, 2);
    assert.ok(!f.sent.some((s) => s.startsWith('ACK')));
  });
});

describe('non-INVITE client transaction (§17.1.2)', () => {
  test('Timer E doubles up to T2 in Trying and runs at T2 in Proceeding; Timer K after the final', async () => {
    const f = flow();
    const { got, user: u } = user();
    const o = owner();
    const req = request('OPTIONS');
    const tx = new NonInviteClientTransaction('k', req, f, u, o, T);
    tx.start();
    await sleep(35);
    const trying = f.sent.length;
    assert.ok(trying >= 2, `retransmissions in Trying: ${trying}`);
    tx.receiveResponse(makeResponse(req, 100));
    assert.equal(tx.state, TransactionState.Proceeding);
    tx.receiveResponse(makeResponse(req, 200));
    assert.equal(tx.state, TransactionState.Completed);
    assert.equal(got.responses.at(-1)!.status, 200);
    await sleep(T.T4 + 30);
    assert.equal(tx.state, TransactionState.Terminated, 'Timer K');
    assert.equal(o.done, 1);
  });

  test('reliable transports do not retransmit', async () => {
    const f = flow(true);
    const tx = new NonInviteClientTransaction('k', request('OPTIONS'), f, user().user, owner(), T);
    tx.start();
    await sleep(60);
    assert.equal(f.sent.length, 1);
    tx.dispose();
  });
});

describe('INVITE server transaction (§17.2.1)', () => {
  test('a retransmitted INVITE gets the last provisional; a final is retransmitted (Timer G) until the ACK', async () => {
    const f = flow();
    const o = owner();
    const inv = request('INVITE');
    const tx = new InviteServerTransaction('k', inv, f, o, T);
    tx.respond(makeResponse(inv, 180, undefined, 'b'));
    tx.receiveRequest(inv);
    assert.equal(f.sent.length, 2);
    assert.match(f.sent[1]!, /^SIP\/2\.0 180/);
    tx.respond(makeResponse(inv, 486, undefined, 'b'));
    assert.equal(tx.state, TransactionState.Completed);
    await sleep(45);
    const finals = f.sent.filter((s) => s.startsWith('SIP/2.0 486')).length;
    assert.ok(finals >= 3, `Timer G retransmissions: ${finals}`);
    tx.receiveRequest(request('ACK'));
    assert.equal(tx.state, TransactionState.Confirmed);
    const after = f.sent.length;
    await sleep(40);
    assert.equal(f.sent.length, after, 'no retransmission after the ACK');
    await sleep(T.T4);
    assert.equal(tx.state, TransactionState.Terminated, 'Timer I');
    assert.equal(o.done, 1);
  });

  test('Timer H: no ACK for the final response ends the transaction and tells the owner', async () => {
    let timedOut = 0;
    const inv = request('INVITE');
    const tx = new InviteServerTransaction('k', inv, flow(), { terminated: () => {}, ackTimeout: () => timedOut++ }, T);
    tx.respond(makeResponse(inv, 404));
    await sleep(64 * T.T1 + 30);
    assert.equal(timedOut, 1);
    assert.equal(tx.state, TransactionState.Terminated);
  });

  test('a 2xx moves to Accepted (RFC 6026) and further 2xx are sent', () => {
    const f = flow();
    const inv = request('INVITE');
    const tx = new InviteServerTransaction('k', inv, f, owner(), T);
    tx.respond(makeResponse(inv, 200, undefined, 'b'));
    tx.respond(makeResponse(inv, 200, undefined, 'b'));
    assert.equal(tx.state, TransactionState.Accepted);
    assert.equal(f.sent.length, 2);
    tx.dispose();
  });
});

describe('non-INVITE server transaction (§17.2.2)', () => {
  test('retransmissions are answered from the transaction; Timer J ends it', async () => {
    const f = flow();
    const o = owner();
    const req = request('REGISTER');
    const tx = new NonInviteServerTransaction('k', req, f, o, T);
    tx.receiveRequest(req);
    assert.equal(f.sent.length, 0, 'nothing to resend in Trying');
    tx.respond(makeResponse(req, 200));
    tx.receiveRequest(req);
    assert.equal(f.sent.length, 2);
    tx.respond(makeResponse(req, 500));
    assert.equal(f.sent.length, 2, 'a second final is ignored');
    await sleep(64 * T.T1 + 30);
    assert.equal(tx.state, TransactionState.Terminated);
    assert.equal(o.done, 1);
  });
});

describe('what a transaction sends again is what it sent', () => {
  // Transactions keep the message as a latin1 string (message.ts, serialize()); a body of any
  // bytes, UTF-8 text or not, must come out of it unchanged.
  const everyByte = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const rawFlow = () => {
    const sent: Buffer[] = [];
    return { ...flow(), sent, send: (d: Buffer) => sent.push(Buffer.from(d)) > 0 };
  };

  test('a final response sent again (retransmitted request, Timer G) is byte for byte the first', async () => {
    const f = rawFlow();
    const req = request('OPTIONS');
    const tx = new NonInviteServerTransaction('k', req, f, owner(), T);
    const res = makeResponse(req, 200);
    res.body = everyByte;
    tx.respond(res);
    tx.receiveRequest(req);
    assert.equal(f.sent.length, 2);
    assert.ok(f.sent[0]!.subarray(-256).equals(everyByte), 'the body went out as its bytes');
    assert.ok(f.sent[1]!.equals(f.sent[0]!));
    tx.dispose();

    const g = rawFlow();
    const inv = request('INVITE');
    const itx = new InviteServerTransaction('k', inv, g, owner(), T);
    const busy = makeResponse(inv, 486, undefined, 'b');
    busy.body = Buffer.from('Réponse ☎', 'utf8');
    itx.respond(busy);
    await sleep(35); // Timer G: 10, 30
    assert.ok(g.sent.length >= 2, `Timer G retransmissions: ${g.sent.length}`);
    for (const again of g.sent.slice(1)) assert.ok(again.equals(g.sent[0]!));
    assert.ok(g.sent[0]!.subarray(-busy.body.length).equals(busy.body));
    itx.dispose();
  });

  test('a request sent again (Timer A) is byte for byte the first', async () => {
    const f = rawFlow();
    const inv = request('INVITE');
    inv.body = Buffer.concat([Buffer.from('v=0\r\ns=Café ☎\r\n', 'utf8'), everyByte]);
    const tx = new InviteClientTransaction('k', inv, f, user().user, owner(), T);
    tx.start();
    await sleep(35); // Timer A: 0, 10, 30
    assert.ok(f.sent.length >= 2, `retransmissions: ${f.sent.length}`);
    assert.ok(f.sent[0]!.subarray(-inv.body.length).equals(inv.body));
    for (const again of f.sent.slice(1)) assert.ok(again.equals(f.sent[0]!));
    tx.dispose();
  });
});

describe('the stack keeps completed non-INVITE transactions on one Timer J queue', () => {
  test('over real UDP: a retransmission is answered from the queue, and each leaves after 64*T1', async () => {
    const { SipStack } = await import('../../src/sip/stack.ts');
    const { createSocket } = await import('node:dgram');
    const stack = new SipStack(T);
    let handled = 0;
    stack.setDelegate({ request: (req, tx) => (handled++, tx?.respond(makeResponse(req, 200))) });
    const port = await new Promise<number>((ok) => {
      const probe = createSocket('udp4');
      probe.bind(0, '127.0.0.1', () => {
        const p = probe.address().port;
        probe.close(() => ok(p));
      });
    });
    await stack.listen([{ transport: 'udp', host: '127.0.0.1', port }]);
    const sock = createSocket('udp4');
    await new Promise<void>((ok) => sock.bind(0, '127.0.0.1', () => ok()));
    const replies: string[] = [];
    sock.on('message', (m) => replies.push(m.toString()));
    const register = (branch: string, delay: number) =>
      `REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${sock.address().port};branch=z9hG4bK${branch}\r\nMax-Forwards: 70\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:a@x>\r\nCall-ID: ${branch}\r\nCSeq: ${delay + 1} REGISTER\r\nContent-Length: 0\r\n\r\n`;
    try {
      // Three transactions completed some milliseconds apart, then a retransmission of the first.
      for (const [i, b] of ['a1', 'a2', 'a3'].entries()) {
        sock.send(register(b, i), port, '127.0.0.1');
        await sleep(60);
      }
      sock.send(register('a1', 0), port, '127.0.0.1');
      await sleep(60);
      assert.equal(handled, 3, 'the retransmission did not reach the TU');
      assert.equal(replies.length, 4, 'it was answered from the completed transaction');
      assert.equal(stack.activeTransactions.server, 3);
      await sleep(64 * T.T1 + 300);
      assert.equal(stack.activeTransactions.server, 0, 'all ended after Timer J');
      // A new request with the first branch is a new transaction now.
      sock.send(register('a1', 0), port, '127.0.0.1');
      await sleep(60);
      assert.equal(handled, 4);
    } finally {
      sock.close();
      await stack.close();
    }
  });
});

describe('the delegate admits a request before the stack makes a transaction for it', () => {
  test('thousands of refused requests leave no transaction behind; admitted ones still get one', async () => {
    const { SipStack } = await import('../../src/sip/stack.ts');
    const stack = new SipStack(T);
    let handled = 0;
    stack.setDelegate({
      admit: (req) => !req.callId.startsWith('drop-'),
      request: (req, tx) => (handled++, tx?.respond(makeResponse(req, 200))),
    });
    const f = flow();
    const receive = (stack as unknown as { receive(m: SipRequest, f: Flow): void }).receive.bind(stack);
    const make = (method: string, callId: string, branch: string) =>
      parseMessage(
        Buffer.from(`${method} sip:bob@example.org SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK${branch}\r\nMax-Forwards: 70\r\nFrom: <sip:a@x>;tag=a\r\nTo: <sip:b@x>\r\nCall-ID: ${callId}\r\nCSeq: 1 ${method}\r\nContent-Length: 0\r\n\r\n`),
      ) as SipRequest;
    try {
      for (let i = 0; i < 5000; i++) receive(make(i % 2 ? 'INVITE' : 'OPTIONS', `drop-${i}`, `d${i}`), f);
      assert.equal(stack.activeTransactions.server, 0, 'no transaction was made for a refused request');
      assert.equal(stack.counters.requestsRefused, 5000);
      assert.equal(stack.counters.serverTransactions, 0);
      assert.equal(handled, 0, 'the transaction user never saw them');
      assert.equal(f.sent.length, 0, 'and nothing was answered');
      receive(make('OPTIONS', 'keep-1', 'k1'), f);
      assert.equal(handled, 1);
      assert.equal(f.sent.length, 1, 'an admitted request is answered');
      await sleep(64 * T.T1 + 400);
      assert.equal(stack.activeTransactions.server, 0, 'the admitted one ended after Timer J');
    } finally {
      await stack.close();
    }
  });
});

describe('challenges sent statelessly (RFC 3261 §26.3.2.4)', () => {
  test('a 401 goes out once and leaves no transaction; a retransmission is a new request; the ACK for a 407 ends in the stack', async () => {
    const { SipStack } = await import('../../src/sip/stack.ts');
    const { statelessTag } = await import('../../src/sip/ids.ts');
    const stack = new SipStack(T);
    const seen: string[] = [];
    stack.setDelegate({
      admit: (req) => (seen.push(`admit ${req.method}`), true),
      request: (req, tx) => {
        seen.push(req.method);
        if (!tx) return;
        if (req.method === 'INVITE') tx.respondStatelessly(makeResponse(req, 407, undefined, statelessTag()));
        else tx.respondStatelessly(makeResponse(req, 401));
      },
    });
    const f = flow();
    const receive = (stack as unknown as { receive(m: SipRequest, f: Flow): void }).receive.bind(stack);
    const make = (method: string, branch: string, toTag = '') =>
      parseMessage(
        Buffer.from(`${method} sip:bob@example.org SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK${branch}\r\nMax-Forwards: 70\r\nFrom: <sip:a@x>;tag=a\r\nTo: <sip:b@x>${toTag ? `;tag=${toTag}` : ''}\r\nCall-ID: sl-1\r\nCSeq: 1 ${method}\r\nContent-Length: 0\r\n\r\n`),
      ) as SipRequest;
    try {
      receive(make('REGISTER', 'r1'), f);
      assert.equal(f.sent.length, 1);
      assert.match(f.sent[0]!, /^SIP\/2\.0 401 /);
      assert.equal(stack.activeTransactions.server, 0, 'nothing kept for a challenge');
      await sleep(4 * T.T1);
      assert.equal(f.sent.length, 1, 'never retransmitted');
      receive(make('REGISTER', 'r1'), f);
      assert.deepEqual(seen, ['admit REGISTER', 'REGISTER', 'admit REGISTER', 'REGISTER'], 'the retransmission is answered anew');
      assert.equal(f.sent.length, 2);

      seen.length = 0;
      receive(make('INVITE', 'i1'), f);
      const tag = /^To: .*;tag=([^;\r\n]+)/m.exec(f.sent[2]!)?.[1];
      assert.ok(tag, f.sent[2]);
      assert.equal(stack.activeTransactions.server, 0);
      receive(make('ACK', 'i1', tag), f);
      assert.deepEqual(seen, ['admit INVITE', 'INVITE'], 'the ACK for the 407 reached neither the admission nor the TU');
      assert.equal(stack.counters.challengeAcksAbsorbed, 1);
      assert.equal(stack.counters.retransmissionsAbsorbed, 0, 'nothing was a retransmission');
      // An ACK with any other tag (for a 2xx) still goes up to the TU.
      receive(make('ACK', 'i2', 'abc123'), f);
      assert.deepEqual(seen.slice(2), ['admit ACK', 'ACK']);
      assert.equal(f.sent.length, 3, 'no ACK is answered');
      assert.throws(() => new NonInviteServerTransaction('k', make('OPTIONS', 'o1'), f, owner(), T).respondStatelessly(makeResponse(make('OPTIONS', 'o1'), 100)));
    } finally {
      await stack.close();
    }
  });
});

describe('a transaction that only waits out its last timer keeps little (a busy server holds tens of thousands)', () => {
  test('INVITE client, Accepted: the request goes, the user stays for retransmitted 2xx, and the owner queues it for Timer M', () => {
    const f = flow();
    const { got, user: u } = user();
    const retired: number[] = [];
    const o = { terminated: () => {}, retire: (_tx: unknown, ms: number) => retired.push(ms) };
    const inv = request('INVITE');
    const tx = new InviteClientTransaction('k', inv, f, u, o, T);
    tx.start();
    const ok = makeResponse(inv, 200, undefined, 'b');
    tx.receiveResponse(ok);
    assert.deepEqual(retired, [64 * T.T1]);
    assert.throws(() => tx.request, /released/);
    // A TU may hand the transaction a slimmer user (the proxy does once a branch is answered).
    const later: number[] = [];
    tx.user = { response: (r) => later.push(r.status), timeout: () => {}, transportError: () => {} };
    tx.receiveResponse(ok);
    assert.deepEqual(later, [200]);
    assert.equal(got.responses.length, 1);
    tx.expire();
    assert.equal(tx.state, TransactionState.Terminated);
  });

  test('non-INVITE client, Completed: request and user go; a retransmitted final is absorbed; Timer K from the queue (0 over TCP)', () => {
    const { got, user: u } = user();
    const retired: number[] = [];
    let ended = 0;
    const o = { terminated: () => ended++, retire: (_tx: unknown, ms: number) => retired.push(ms) };
    const req = request('BYE');
    const tx = new NonInviteClientTransaction('k', req, flow(), u, o, T);
    tx.start();
    tx.receiveResponse(makeResponse(req, 200));
    tx.receiveResponse(makeResponse(req, 200));
    assert.equal(got.responses.length, 1);
    assert.deepEqual(retired, [T.T4]);
    assert.throws(() => tx.request, /released/);
    const tcp = new NonInviteClientTransaction('k2', req, flow(true), user().user, o, T);
    tcp.start();
    tcp.receiveResponse(makeResponse(req, 200));
    assert.equal(tcp.state, TransactionState.Terminated, 'no Timer K over a reliable transport');
    assert.equal(ended, 1);
  });

  test('INVITE server, Accepted: the request goes and a retransmitted INVITE is absorbed without an answer', () => {
    const f = flow();
    const retired: number[] = [];
    const inv = request('INVITE');
    const tx = new InviteServerTransaction('k', inv, f, { terminated: () => {}, retire: (_tx, ms) => retired.push(ms) }, T);
    tx.respond(makeResponse(inv, 200, undefined, 'b'));
    assert.deepEqual(retired, [64 * T.T1]);
    assert.throws(() => tx.request, /released/);
    tx.receiveRequest(inv);
    assert.equal(f.sent.length, 1);
  });
});

test('a timer set still runs every timer after it let go of its last one', async () => {
  const fired: string[] = [];
  const set = new TimerSet();
  set.start('A', 5, () => fired.push('A'));
  set.start('B', 10, () => fired.push('B'));
  set.stop('A');
  await new Promise((r) => setTimeout(r, 30));
  assert.deepEqual(fired, ['B']);
  // Empty now: a new timer, a restarted one, and one stopped before its time.
  set.start('A', 5, () => fired.push('A again'));
  set.start('C', 5, () => fired.push('C (first)'));
  set.start('C', 15, () => fired.push('C'));
  set.start('D', 5, () => fired.push('D'));
  set.stop('D');
  set.stop('never started');
  await new Promise((r) => setTimeout(r, 40));
  assert.deepEqual(fired, ['B', 'A again', 'C']);
  set.start('E', 5, () => fired.push('E'));
  set.clear();
  set.start('F', 5, () => fired.push('F'));
  await new Promise((r) => setTimeout(r, 30));
  assert.deepEqual(fired, ['B', 'A again', 'C', 'F']);
});
