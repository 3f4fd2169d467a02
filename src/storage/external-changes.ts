// Notices writes made by another process (the `pbx` CLI beside a running server) so
// the server's in-memory copies never serve stale extensions or devices. SQLite's
// data_version changes only for commits from other connections, so polling it is cheap.
import type { OpenedDatabase } from './database.js';

export class ExternalChanges {
  private readonly timer: NodeJS.Timeout | undefined;
  private last: number | undefined;
  private busy = false;

  constructor(database: OpenedDatabase, onChange: () => Promise<void>, intervalMs = 1000) {
    const read = database.dataVersion;
    if (!read) return;
    this.last = read();
    this.timer = setInterval(() => {
      if (this.busy) return;
      const now = read();
      if (now === this.last) return;
      this.last = now;
      this.busy = true;
      onChange().finally(() => (this.busy = false));
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
