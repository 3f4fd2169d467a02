// The security log: one line per event in a stable format that fail2ban can match
// (contrib/fail2ban/). Format, documented in docs/SECURITY.md:
//   <ISO time> pbx-security event=<event> ip=<address> key=value …
// Values never contain spaces (they are replaced) and never hold a secret. Lines are
// written in blocks off the event loop (util/buffered-output.ts), within 50 ms: a write
// per line (one per phone's fetch of its file) cost the loop a file-system request and its
// callback each.
import { bufferedOutput, type BufferedOutput } from '../util/buffered-output.js';
import { nowIso } from '../util/clock.js';

export type SecurityEvent = 'ban' | 'sensitive-fetch' | 'sensitive-upload' | 'unknown-device' | 'auth-failure' | 'call-refused';

export class SecurityLog {
  private out: BufferedOutput | undefined;
  private path = '';

  constructor(private readonly file: () => string) {}

  write(event: SecurityEvent, fields: { ip: string } & Record<string, string | number>): void {
    const path = this.file();
    if (!path) return;
    const { ip, ...rest } = fields;
    let extra = '';
    for (const k in rest) extra += ` ${k}=${String(rest[k]).replace(/[\s=]+/g, '_')}`;
    this.output(path).write(`${nowIso()} pbx-security event=${event} ip=${ip}${extra}\n`);
  }

  /** Writes what is buffered and closes the file. */
  async close(): Promise<void> {
    const out = this.out;
    this.out = undefined;
    await out?.end();
  }

  private output(path: string): BufferedOutput {
    if (path !== this.path || !this.out) {
      // A new security.log_file (config reload): the old file gets what it was sent.
      void this.out?.end();
      this.out = bufferedOutput(path, { mode: 0o640, onError: (err) => process.stderr.write(`pbx: security log ${path}: ${err.message}\n`) });
      this.path = path;
    }
    return this.out;
  }
}
