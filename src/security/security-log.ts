// The security log: one line per event in a stable format that fail2ban can match
// (contrib/fail2ban/). Format, documented in docs/SECURITY.md:
//   <ISO time> pbx-security event=<event> ip=<address> key=value …
// Values never contain spaces (they are replaced) and never hold a secret. Lines go
// through a buffered append stream, so logging a fetch does not block serving it, and the
// lines of one turn of the event loop go in one write: a write per line (one per phone's
// fetch of its file) cost the loop a file-system request and its callback each.
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import { nowIso } from '../util/clock.js';

export type SecurityEvent = 'ban' | 'sensitive-fetch' | 'sensitive-upload' | 'unknown-device' | 'auth-failure' | 'call-refused';

export class SecurityLog {
  private stream: WriteStream | undefined;
  private path = '';
  /** Lines written during this turn of the event loop, appended together at its end. */
  private pending: string[] = [];

  constructor(private readonly file: () => string) {}

  write(event: SecurityEvent, fields: { ip: string } & Record<string, string | number>): void {
    const { ip, ...rest } = fields;
    const extra = Object.entries(rest)
      .map(([k, v]) => `${k}=${String(v).replace(/[\s=]+/g, '_')}`)
      .join(' ');
    if (!this.file()) return;
    if (this.pending.length === 0) setImmediate(() => this.flush());
    this.pending.push(`${nowIso()} pbx-security event=${event} ip=${ip}${extra ? ` ${extra}` : ''}\n`);
  }

  private flush(): void {
    const lines = this.pending;
    this.pending = [];
    if (lines.length) this.out()?.write(lines.join(''));
  }

  close(): Promise<void> {
    this.flush();
    const s = this.stream;
    this.stream = undefined;
    return new Promise((ok) => (s ? s.end(() => ok()) : ok()));
  }

  private out(): WriteStream | undefined {
    const path = this.file();
    if (!path) return undefined;
    if (path !== this.path || !this.stream) {
      this.stream?.end();
      mkdirSync(dirname(path), { recursive: true });
      this.stream = createWriteStream(path, { flags: 'a', mode: 0o640 });
      this.path = path;
    }
    return this.stream;
  }
}
