// TFTP packets (RFC 1350 §5, RFC 2347 option extension): decoding never throws, a
// datagram that is not a well-formed packet becomes a `malformed` value naming the
// problem. Strings are netascii; they are read as latin1 so any byte survives.

export const OP = { RRQ: 1, WRQ: 2, DATA: 3, ACK: 4, ERROR: 5, OACK: 6 } as const;

/** Error codes (RFC 1350 §5, 8 from RFC 2347). */
export const ERR = {
  UNDEFINED: 0,
  NOT_FOUND: 1,
  ACCESS_VIOLATION: 2,
  DISK_FULL: 3,
  ILLEGAL_OPERATION: 4,
  UNKNOWN_TID: 5,
  FILE_EXISTS: 6,
  NO_SUCH_USER: 7,
  OPTION_REFUSED: 8,
} as const;

export interface TftpRequest {
  op: 'rrq' | 'wrq';
  fileName: string;
  /** Lower case: octet, netascii, mail. */
  mode: string;
  /** Option names lower case (RFC 2347), values as sent. */
  options: Map<string, string>;
}

export type TftpPacket =
  | TftpRequest
  | { op: 'data'; block: number; data: Buffer }
  | { op: 'ack'; block: number }
  | { op: 'error'; code: number; message: string }
  | { op: 'oack'; options: Map<string, string> }
  | { op: 'malformed'; reason: string };

export function decode(buf: Buffer): TftpPacket {
  if (buf.length < 2) return { op: 'malformed', reason: 'packet shorter than an opcode' };
  const opcode = buf.readUInt16BE(0);
  switch (opcode) {
    case OP.RRQ:
    case OP.WRQ: {
      const fields = strings(buf, 2);
      if (!fields) return { op: 'malformed', reason: 'request fields are not NUL-terminated' };
      const [fileName, mode, ...rest] = fields;
      if (!fileName) return { op: 'malformed', reason: 'empty file name' };
      if (mode === undefined || mode === '') return { op: 'malformed', reason: 'no transfer mode' };
      if (rest.length % 2 !== 0) return { op: 'malformed', reason: 'an option has no value' };
      const options = new Map<string, string>();
      // Option names are case-insensitive (RFC 2347); the first of a repeated option counts.
      for (let i = 0; i < rest.length; i += 2) {
        const name = rest[i]!.toLowerCase();
        if (name && !options.has(name)) options.set(name, rest[i + 1]!);
      }
      return { op: opcode === OP.RRQ ? 'rrq' : 'wrq', fileName, mode: mode.toLowerCase(), options };
    }
    case OP.DATA:
      if (buf.length < 4) return { op: 'malformed', reason: 'DATA without a block number' };
      return { op: 'data', block: buf.readUInt16BE(2), data: buf.subarray(4) };
    case OP.ACK:
      if (buf.length !== 4) return { op: 'malformed', reason: `ACK of ${buf.length} bytes (must be 4)` };
      return { op: 'ack', block: buf.readUInt16BE(2) };
    case OP.ERROR: {
      if (buf.length < 4) return { op: 'malformed', reason: 'ERROR without a code' };
      const end = buf.indexOf(0, 4);
      return { op: 'error', code: buf.readUInt16BE(2), message: buf.toString('latin1', 4, end < 0 ? buf.length : end) };
    }
    case OP.OACK: {
      const fields = strings(buf, 2);
      if (!fields || fields.length % 2 !== 0) return { op: 'malformed', reason: 'bad OACK' };
      const options = new Map<string, string>();
      for (let i = 0; i < fields.length; i += 2) options.set(fields[i]!.toLowerCase(), fields[i + 1]!);
      return { op: 'oack', options };
    }
    default:
      return { op: 'malformed', reason: `unknown opcode ${opcode}` };
  }
}

/** NUL-terminated strings from `at` to the end; null when the last one is not terminated. */
function strings(buf: Buffer, at: number): string[] | null {
  const out: string[] = [];
  while (at < buf.length) {
    const end = buf.indexOf(0, at);
    if (end < 0) return null;
    out.push(buf.toString('latin1', at, end));
    at = end + 1;
  }
  return out;
}

export function dataPacket(block: number, data: Buffer): Buffer {
  const out = Buffer.allocUnsafe(4 + data.length);
  out.writeUInt16BE(OP.DATA, 0);
  out.writeUInt16BE(block & 0xffff, 2);
  data.copy(out, 4);
  return out;
}

export function ackPacket(block: number): Buffer {
  const out = Buffer.allocUnsafe(4);
  out.writeUInt16BE(OP.ACK, 0);
  out.writeUInt16BE(block & 0xffff, 2);
  return out;
}

export function errorPacket(code: number, message: string): Buffer {
  // Keep it one small datagram whatever the message.
  const text = Buffer.from(message.slice(0, 200).replace(/\0/g, ' '), 'latin1');
  const out = Buffer.alloc(5 + text.length);
  out.writeUInt16BE(OP.ERROR, 0);
  out.writeUInt16BE(code, 2);
  text.copy(out, 4);
  return out;
}

export function oackPacket(options: Map<string, string>): Buffer {
  const parts: Buffer[] = [Buffer.from([0, OP.OACK])];
  for (const [k, v] of options) parts.push(Buffer.from(`${k}\0${v}\0`, 'latin1'));
  return Buffer.concat(parts);
}

/** A file in netascii (RFC 764 via RFC 1350): LF becomes CR LF, a bare CR becomes CR NUL. */
export function toNetascii(data: Buffer): Buffer {
  let extra = 0;
  for (const b of data) if (b === 0x0a || b === 0x0d) extra++;
  if (extra === 0) return data;
  const out = Buffer.allocUnsafe(data.length + extra);
  let j = 0;
  for (const b of data) {
    if (b === 0x0a) {
      out[j++] = 0x0d;
      out[j++] = 0x0a;
    } else if (b === 0x0d) {
      out[j++] = 0x0d;
      out[j++] = 0x00;
    } else out[j++] = b;
  }
  return out;
}
