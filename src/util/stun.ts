// A STUN Binding client (RFC 5389 §6–§7, §15): asks a STUN server which address and
// port our UDP packets come from as it sees them: behind a NAT, the public ones.
// Retransmits as §7.2.1 says (RTO doubling from 500 ms), fewer times: an answer that takes
// longer than a few seconds is no use to a server waiting to start.
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

const MAGIC_COOKIE = 0x2112a442;
const BINDING_REQUEST = 0x0001;
const BINDING_SUCCESS = 0x0101;
const BINDING_ERROR = 0x0111;
const ATTR_MAPPED_ADDRESS = 0x0001;
const ATTR_XOR_MAPPED_ADDRESS = 0x0020;
const ATTR_ERROR_CODE = 0x0009;

export interface MappedAddress {
  address: string;
  port: number;
}

export class StunError extends Error {
  override name = 'StunError';
}

/** "host", "host:port", "[v6]:port" → host and port (3478 by default, RFC 5389 §9). */
export function parseStunServer(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+))(?::(\d{1,5}))?$/.exec(text.trim());
  if (!m) throw new StunError(`"${text}" is not host or host:port`);
  const port = m[3] ? Number(m[3]) : 3478;
  if (port < 1 || port > 65535) throw new StunError(`"${text}": port out of range`);
  return { host: (m[1] ?? m[2])!, port };
}

/** One Binding request to `server` (host[:port]); the address it saw us at, or a StunError. */
export async function stunBinding(server: string, o: { attempts?: number; rtoMs?: number } = {}): Promise<MappedAddress> {
  const { host, port } = parseStunServer(server);
  const address = isIP(host) ? host : (await lookup(host).catch(() => ({ address: '' }))).address;
  if (!address) throw new StunError(`${host} does not resolve`);
  const family = isIP(address) === 6 ? 'udp6' : 'udp4';
  const socket = createSocket(family);
  const id = randomBytes(12);
  const request = Buffer.alloc(20);
  request.writeUInt16BE(BINDING_REQUEST, 0);
  request.writeUInt16BE(0, 2);
  request.writeUInt32BE(MAGIC_COOKIE, 4);
  id.copy(request, 8);
  const attempts = o.attempts ?? 3;
  let rto = o.rtoMs ?? 500;
  return new Promise<MappedAddress>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    let sent = 0;
    const done = (err: Error | null, mapped?: MappedAddress) => {
      clearTimeout(timer);
      socket.close();
      if (err) reject(err);
      else resolve(mapped!);
    };
    socket.on('error', (err) => done(new StunError(`${server}: ${err.message}`)));
    socket.on('message', (msg) => {
      let parsed: MappedAddress | Error | null;
      try {
        parsed = parseBindingResponse(msg, id);
      } catch (err) {
        parsed = err as Error;
      }
      if (parsed === null) return; // not the answer to our request
      if (parsed instanceof Error) done(new StunError(`${server}: ${parsed.message}`));
      else done(null, parsed);
    });
    const send = () => {
      if (sent === attempts) return done(new StunError(`${server}: no answer to ${attempts} Binding requests`));
      sent++;
      socket.send(request, port, address);
      timer = setTimeout(send, rto);
      rto *= 2;
    };
    send();
  });
}

/** The mapped address of a Binding success answering `id`; null for anything else; throws for an error response. */
export function parseBindingResponse(msg: Buffer, id: Buffer): MappedAddress | null {
  if (msg.length < 20 || (msg[0]! & 0xc0) !== 0) return null;
  const type = msg.readUInt16BE(0);
  const length = msg.readUInt16BE(2);
  if (msg.readUInt32BE(4) !== MAGIC_COOKIE || !msg.subarray(8, 20).equals(id) || 20 + length > msg.length) return null;
  if (type !== BINDING_SUCCESS && type !== BINDING_ERROR) return null;
  let mapped: MappedAddress | null = null;
  let xorMapped: MappedAddress | null = null;
  for (let at = 20; at + 4 <= 20 + length; ) {
    const attr = msg.readUInt16BE(at);
    const len = msg.readUInt16BE(at + 2);
    const value = msg.subarray(at + 4, at + 4 + len);
    if (attr === ATTR_XOR_MAPPED_ADDRESS) xorMapped = readAddress(value, msg.subarray(4, 20));
    else if (attr === ATTR_MAPPED_ADDRESS) mapped = readAddress(value, null);
    else if (attr === ATTR_ERROR_CODE && type === BINDING_ERROR && len >= 4) {
      throw new StunError(`error ${value[2]! * 100 + value[3]!} ${value.subarray(4).toString('utf8')}`);
    }
    at += 4 + Math.ceil(len / 4) * 4;
  }
  if (type === BINDING_ERROR) throw new StunError('error response');
  const found = xorMapped ?? mapped;
  if (!found) throw new StunError('the answer holds no mapped address');
  return found;
}

/** A (XOR-)MAPPED-ADDRESS value; `xor` is the magic cookie and transaction ID (§15.2). */
function readAddress(v: Buffer, xor: Buffer | null): MappedAddress | null {
  if (v.length < 8) return null;
  const family = v[1];
  const port = v.readUInt16BE(2) ^ (xor ? xor.readUInt16BE(0) : 0);
  const size = family === 0x01 ? 4 : family === 0x02 ? 16 : 0;
  if (size === 0 || v.length < 4 + size) return null;
  const bytes = Buffer.from(v.subarray(4, 4 + size));
  if (xor) for (let i = 0; i < size; i++) bytes[i]! ^= xor[i]!;
  const address = size === 4 ? [...bytes].join('.') : (bytes.toString('hex').match(/.{4}/g) ?? []).join(':').replace(/(^|:)0{1,3}/g, '$1');
  return { address, port };
}
