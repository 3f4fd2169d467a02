// A small TFTP client for the tests, written apart from the server's code (its own
// packet bytes), the way a phone's boot loader reads a file: RRQ, optional OACK → ACK 0,
// then DATA/ACK in lock step, block numbers rolling over after 65535.
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';

export interface GetOptions {
  port: number;
  file: string;
  host?: string;
  mode?: string;
  options?: Record<string, string | number>;
  /** Bind the client to this address (all of 127.0.0.0/8 is this host). */
  localAddress?: string;
  /** Return true to leave this DATA block (0: the OACK) unacknowledged, the ACK "lost"; `seen` counts its arrivals. */
  dropAck?: (block: number, seen: number) => boolean;
  /** Stop answering (vanish) after this many DATA packets. */
  vanishAfter?: number;
  /** Give up after this long without a packet. */
  idleMs?: number;
  /** Send the RRQ again after this long without an answer, like a boot loader (0 = never). */
  rrqRetryMs?: number;
}

export interface GetResult {
  data: Buffer;
  oack: Record<string, string> | null;
  error: { code: number; message: string } | null;
  /** DATA packets that carried a new block, and repeated ones. */
  blocks: number;
  duplicates: number;
  /** The server's transfer port (its TID). */
  serverPort: number | null;
  /** Sizes of the DATA payloads, in order of arrival (new blocks only). */
  sizes: number[];
  timedOut: boolean;
}

export function rrq(file: string, mode = 'octet', options: Record<string, string | number> = {}, opcode = 1): Buffer {
  const parts = [file, mode, ...Object.entries(options).flatMap(([k, v]) => [k, String(v)])];
  return Buffer.concat([Buffer.from([0, opcode]), ...parts.map((p) => Buffer.from(`${p}\0`, 'latin1'))]);
}

export function ack(block: number): Buffer {
  return Buffer.from([0, 4, (block >> 8) & 0xff, block & 0xff]);
}

export function parseError(buf: Buffer): { code: number; message: string } | null {
  if (buf.length < 4 || buf.readUInt16BE(0) !== 5) return null;
  const end = buf.indexOf(0, 4);
  return { code: buf.readUInt16BE(2), message: buf.toString('latin1', 4, end < 0 ? buf.length : end) };
}

async function openSocket(host: string, localAddress?: string): Promise<Socket> {
  const s = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
  await new Promise<void>((ok, fail) => {
    s.once('error', fail);
    s.bind(0, localAddress, () => ok());
  });
  return s;
}

export async function tftpGet(o: GetOptions): Promise<GetResult> {
  const host = o.host ?? '127.0.0.1';
  const s = await openSocket(host, o.localAddress);
  const chunks: Buffer[] = [];
  const result: GetResult = { data: Buffer.alloc(0), oack: null, error: null, blocks: 0, duplicates: 0, serverPort: null, sizes: [], timedOut: false };
  let blockSize = 512;
  let expected = 1; // running block number
  const seen = new Map<number, number>();
  let packets = 0;
  return new Promise((done) => {
    let idle: NodeJS.Timeout;
    const finish = () => {
      clearTimeout(idle);
      s.close();
      result.data = Buffer.concat(chunks);
      done(result);
    };
    const kick = () => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        result.timedOut = true;
        finish();
      }, o.idleMs ?? 3000);
    };
    s.on('message', (msg, rinfo) => {
      if (result.serverPort === null) result.serverPort = rinfo.port;
      if (rinfo.port !== result.serverPort) {
        s.send(Buffer.from([0, 5, 0, 5, 0]), rinfo.port, rinfo.address);
        return;
      }
      kick();
      const op = msg.readUInt16BE(0);
      const reply = (b: Buffer) => s.send(b, rinfo.port, rinfo.address);
      if (op === 5) {
        result.error = parseError(msg);
        finish();
      } else if (op === 6) {
        const n = (seen.get(0) ?? 0) + 1;
        seen.set(0, n);
        if (o.dropAck?.(0, n)) return;
        const fields = msg.toString('latin1', 2).split('\0').slice(0, -1);
        result.oack = {};
        for (let i = 0; i + 1 < fields.length; i += 2) result.oack[fields[i]!.toLowerCase()] = fields[i + 1]!;
        if (result.oack['blksize']) blockSize = Number(result.oack['blksize']);
        reply(ack(0));
      } else if (op === 3) {
        packets++;
        if (o.vanishAfter !== undefined && packets > o.vanishAfter) return;
        const block = msg.readUInt16BE(2);
        const data = msg.subarray(4);
        if (block === (expected & 0xffff)) {
          const n = (seen.get(expected) ?? 0) + 1;
          seen.set(expected, n);
          if (o.dropAck?.(expected, n)) return; // "lost": the server must send it again
          chunks.push(Buffer.from(data));
          result.sizes.push(data.length);
          result.blocks++;
          expected++;
          // The last ACK must leave before the socket closes.
          if (data.length < blockSize) s.send(ack(block), rinfo.port, rinfo.address, () => finish());
          else reply(ack(block));
        } else if (block === ((expected - 1) & 0xffff)) {
          result.duplicates++;
          reply(ack(block));
        }
      }
    });
    kick();
    const request = rrq(o.file, o.mode ?? 'octet', o.options ?? {});
    s.send(request, o.port, host);
    if (o.rrqRetryMs) {
      const retry = setInterval(() => {
        if (result.serverPort === null) s.send(request, o.port, host);
        else clearInterval(retry);
      }, o.rrqRetryMs);
      s.once('close', () => clearInterval(retry));
    }
  });
}

/** Sends one datagram and collects whatever comes back within `waitMs` (or until `expect` answers came). */
export async function exchange(
  port: number,
  packet: Buffer,
  o: { host?: string; localAddress?: string; waitMs?: number; to?: number; expect?: number } = {},
): Promise<{ msg: Buffer; port: number }[]> {
  const host = o.host ?? '127.0.0.1';
  const s = await openSocket(host, o.localAddress);
  const got: { msg: Buffer; port: number }[] = [];
  await new Promise<void>((done) => {
    // With `expect`, return as soon as that many answers came (a loaded machine may be slow).
    const timer = setTimeout(done, o.waitMs ?? (o.expect ? 3000 : 150));
    s.on('message', (msg, rinfo) => {
      got.push({ msg, port: rinfo.port });
      if (o.expect && got.length >= o.expect) {
        clearTimeout(timer);
        done();
      }
    });
    s.send(packet, o.to ?? port, host);
  });
  s.close();
  return got;
}
