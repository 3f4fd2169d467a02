// One pino logger for the process. JSON lines on stdout, which systemd sends to the
// journal (`journalctl -u pbx`); readable lines when stdout is a terminal (`npm start`),
// or with PBX_LOG_FORMAT=pretty / json to choose. Anything that looks like a secret is
// redacted, so a careless log call cannot leak a SIP password or a token.
import pino, { type Logger } from 'pino';
import { readableStream } from './log-format.js';
import { bufferedOutput } from './util/buffered-output.js';
import { nowIso } from './util/clock.js';

export type { Logger };

/** Field names whose value is a secret, at the top of a line's fields or one object down. */
const SECRET_FIELDS = ['password', 'secret', 'token', 'authorization'] as const;
const REDACT = [...SECRET_FIELDS, 'req.headers.authorization', 'req.headers.cookie'];
const CENSOR = '[redacted]';

/**
 * The fields one object down (`ext.password`, `body.token`) censored in a copy; the
 * caller's objects are left as they are. pino's own redaction does this for `*.password`
 * paths, but a wildcard path runs its redactor over every field of every line: four
 * times the cost of the line itself, and a boot storm logs nine lines a phone. Most
 * lines hold no object at all, so this looks at little.
 */
function censorNested<T extends Record<string, unknown>>(fields: T): T {
  let out: Record<string, unknown> | undefined;
  for (const key in fields) {
    const value = fields[key] as unknown;
    if (value === null || typeof value !== 'object' || value instanceof Error) continue;
    let copy: Record<string, unknown> | undefined;
    for (const name of SECRET_FIELDS) {
      if (Object.hasOwn(value, name)) (copy ??= { ...(value as Record<string, unknown>) })[name] = CENSOR;
    }
    if (copy) (out ??= { ...fields })[key] = copy;
  }
  return (out as T | undefined) ?? fields;
}

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'pbx' },
      // pino's isoTime makes a Date and its text per line; a busy server writes many a millisecond.
      timestamp: () => `,"time":"${nowIso()}"`,
      redact: { paths: REDACT, censor: CENSOR },
      formatters: { level: (label) => ({ level: label }), log: censorNested, bindings: censorNested },
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
