// Readable log lines for a person at a terminal (`npm start`): the JSON line pino writes,
// turned into `12:03:04 WARN  lifecycle  No admin account yet: …` with the remaining
// fields after it. Journald and files keep the JSON (one object a line, for tools).

const LEVEL_WIDTH = 5;
const SKIP = new Set(['time', 'level', 'msg', 'service', 'component', 'pid', 'hostname']);

/** One JSON log line as text; a line that is not JSON comes back unchanged. */
export function formatLine(line: string, color = false): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = typeof o.time === 'string' ? o.time.slice(11, 19) : '';
  const level = String(o.level ?? '').toUpperCase().padEnd(LEVEL_WIDTH);
  const component = o.component ? `${String(o.component)}  ` : '';
  const rest = Object.entries(o)
    .filter(([k]) => !SKIP.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  const paint = (code: string | undefined, text: string) => (color && code ? `${code}${text}\x1b[0m` : text);
  return `${time} ${paint(COLORS[String(o.level)], level)} ${component}${String(o.msg ?? '')}${rest ? `  ${paint('\x1b[2m', rest)}` : ''}\n`;
}

const COLORS: Record<string, string> = { warn: '\x1b[33m', error: '\x1b[31m', fatal: '\x1b[41m', debug: '\x1b[2m', trace: '\x1b[2m' };

/** A pino destination that writes readable lines to `out`. */
export function readableStream(out: NodeJS.WriteStream, color = out.isTTY === true): { write(chunk: string): void } {
  return {
    write(chunk: string) {
      for (const line of chunk.split('\n')) if (line) out.write(formatLine(line, color));
    },
  };
}
