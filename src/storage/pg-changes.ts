// PostgreSQL's counterpart of SQLite's data_version for several pbx processes on one
// database (several nodes, or the CLI beside a server): triggers (migration 0008) send
// a NOTIFY on `pbx_changes` when a statement changes a table the server mirrors in
// memory; PostgreSQL delivers it at commit. One connection per server LISTENs and
// signals every notification that came from a backend outside this process's pool.
// The connection is re-made when it drops. Each time LISTEN takes effect it signals
// once too: what was committed before (since the data was loaded, or while the
// connection was down) sent notifications nobody heard.
// A trigger's payload is the table's name (any row may have changed). A writer that knows
// which rows it changed says so (`changePayloads`: the table's name, then one key per
// line), and a reader reloads just those: registrations change all the time, and reloading
// every other node's bindings each second would cost a node more than the phones do.
import pg from 'pg';

export const CHANGES_CHANNEL = 'pbx_changes';

/** PostgreSQL refuses a NOTIFY payload of 8000 bytes or more. */
const MAX_PAYLOAD_BYTES = 7900;

/** The notifications that say these rows of `table` changed (as few as the payload limit allows). */
export function changePayloads(table: string, keys: Iterable<string>): string[] {
  const payloads: string[] = [];
  let current = table;
  let bytes = Buffer.byteLength(table);
  for (const key of keys) {
    const size = 1 + Buffer.byteLength(key);
    if (bytes + size > MAX_PAYLOAD_BYTES && current !== table) {
      payloads.push(current);
      current = table;
      bytes = Buffer.byteLength(table);
    }
    current += `\n${key}`;
    bytes += size;
  }
  if (current !== table) payloads.push(current);
  return payloads;
}

/** A notification's table and, when the writer named them, the changed rows' keys. */
export function parseChange(payload: string): { table: string | null; keys?: string[] } {
  if (!payload) return { table: null };
  const lines = payload.split('\n');
  const table = lines[0] || null;
  return lines.length > 1 && table ? { table, keys: lines.slice(1) } : { table };
}

export interface ListenOptions {
  client: () => pg.Client;
  /** Backend process ids of this process's own pool connections (their changes are known). */
  ownBackends: ReadonlySet<number>;
  /**
   * A table changed (the notification's payload), or null: anything may have (LISTEN just
   * took effect). `keys`: only these rows of it (the writer said which).
   */
  signal: (table: string | null, keys?: string[]) => void;
  onError: (err: Error) => void;
  /** First delay before reconnecting; doubles while the database stays away, up to 30 s. */
  retryMs?: number;
}

/** Starts listening; the returned function stops and closes the connection. */
export function listenForChanges(o: ListenOptions): () => Promise<void> {
  let stopped = false;
  let client: pg.Client | undefined;
  let retry: NodeJS.Timeout | undefined;
  const firstDelay = o.retryMs ?? 1000;
  let delay = firstDelay;

  const reconnectLater = () => {
    if (stopped || retry) return;
    retry = setTimeout(() => {
      retry = undefined;
      void connect();
    }, delay);
    retry.unref();
    delay = Math.min(delay * 2, 30_000);
  };

  const connect = async () => {
    const c = o.client();
    client = c;
    let failed = false;
    const fail = (err: Error) => {
      if (failed || stopped) return;
      failed = true;
      o.onError(err);
      void c.end().catch(() => {});
      reconnectLater();
    };
    c.on('error', fail);
    c.on('end', () => fail(new Error('change notification connection closed')));
    c.on('notification', (msg) => {
      if (msg.channel !== CHANGES_CHANNEL || o.ownBackends.has(msg.processId)) return;
      const change = parseChange(msg.payload ?? '');
      o.signal(change.table, change.keys);
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${CHANGES_CHANNEL}`);
      if (stopped) return void (await c.end().catch(() => {}));
      delay = firstDelay;
      o.signal(null);
    } catch (err) {
      fail(err as Error);
    }
  };
  void connect();

  return async () => {
    stopped = true;
    if (retry) clearTimeout(retry);
    await client?.end().catch(() => {});
  };
}
