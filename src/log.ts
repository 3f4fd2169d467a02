// One pino logger for the process. JSON lines on stdout, which systemd sends to the
// journal (`journalctl -u pbx`); readable lines when stdout is a terminal (`npm start`),
// or with PBX_LOG_FORMAT=pretty / json to choose. Anything that looks like a secret is
// redacted, so a careless log call cannot leak a SIP password or a token.
import pino, { type Logger } from 'pino';
import { readableStream } from './log-format.js';
import { bufferedOutput } from './util/buffered-output.js';
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
    // stdout in blocks, not a write per line: a boot storm logs ~9 lines per phone.
    destination ?? (readable() ? readableStream(process.stdout) : bufferedOutput(1)),
  );
}

function readable(): boolean {
  const format = process.env.PBX_LOG_FORMAT;
  if (format === 'pretty') return true;
  if (format === 'json') return false;
  return process.stdout.isTTY === true;
}
