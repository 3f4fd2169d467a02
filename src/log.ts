// One pino logger for the process. JSON lines on stdout, which systemd sends to the
// journal (`journalctl -u pbx`); readable lines when stdout is a terminal (`npm start`),
// or with PBX_LOG_FORMAT=pretty / json to choose. Anything that looks like a secret is
// redacted, so a careless log call cannot leak a SIP password or a token.
import pino, { type Logger } from 'pino';
import { readableStream } from './log-format.js';
import { nowIso } from './util/clock.js';

export type { Logger };

const REDACT = [
  'password',
  'secret',
  'token',
  'authorization',
  '*.password',
  '*.secret',
  '*.token',
  '*.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'pbx' },
      // pino's isoTime makes a Date and its text per line; a busy server writes many a millisecond.
      timestamp: () => `,"time":"${nowIso()}"`,
      redact: { paths: REDACT, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? (readable() ? readableStream(process.stdout) : bufferedStdout()),
  );
}

/**
 * stdout, written 8 KB at a time: a boot storm logs ~9 lines per phone, and a write per
 * line cost the event loop a file-system request and its callback each. Lines are handed
 * over as bytes: in its text mode sonic-boom measures the UTF-8 length of everything
 * buffered on each line, and a line with a non-ASCII character ("✓ Provisioning config
 * delivered") made that a copy of the whole buffer (13 µs a line against 5 µs). A quiet
 * server's lines go out within 100 ms; pino writes what is left when the process exits.
 */
function bufferedStdout(): pino.DestinationStream {
  const out = pino.destination({ dest: 1, sync: false, minLength: 8192, periodicFlush: 100, contentMode: 'buffer' });
  // In buffer mode sonic-boom takes Buffers; its types only know strings.
  const write = out.write.bind(out) as unknown as (line: Buffer) => boolean;
  return {
    write: (line: string) => write(Buffer.from(line)),
    flush: (cb?: (err?: Error) => unknown) => out.flush(cb),
    flushSync: () => out.flushSync(),
  } as pino.DestinationStream;
}

function readable(): boolean {
  const format = process.env.PBX_LOG_FORMAT;
  if (format === 'pretty') return true;
  if (format === 'json') return false;
  return process.stdout.isTTY === true;
}
