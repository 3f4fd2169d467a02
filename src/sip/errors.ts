// Why a message could not be parsed. `status` is the response a server sends when the
// message is a request that can still be answered (RFC 3261 §8.2, RFC 4475 §3.1.2).
export class SipParseError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 413 | 416 | 505 | 513 = 400,
  ) {
    super(message);
    this.name = 'SipParseError';
  }
}
