// One pino logger for the process. JSON lines on stdout, which systemd sends to the
// journal (`journalctl -u pbx`). Anything that looks like a secret is redacted, so a
// careless log call cannot leak a SIP password or a token.
import pino, { type Logger } from 'pino';

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
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
