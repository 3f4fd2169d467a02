// SQLite's counterpart of PostgreSQL's LISTEN/NOTIFY (pg-changes.ts): did another process
// (the `pbx` CLI beside the server) change a table the server mirrors in memory?
// Triggers (migration 0020) bump a shared counter on each change to a mirrored table, by
// any connection. The server's own connection also has TEMP copies of those triggers, which
// fire for its writes alone and count them in a table only it sees. What the shared counter
// gained beyond our own count is someone else's. (PRAGMA data_version was used before: it
// moves for any other connection's commit, and the server's writer thread is one, so our
// own admin writes in a second when the writer committed bindings read as another
// process's and reloaded everything: in a boot storm, every rendered phone file dropped.)

export interface ChangeProbe {
  /** pbx_change_counter.n: every change to a mirrored table, whoever made it. */
  counter(): number;
  /** The changes the server's own connection made (its TEMP triggers' count). */
  own(): number;
}

/** Returns a function to call once a second: true when another process changed a mirrored table. */
export function otherProcessChanges(probe: ChangeProbe): () => boolean {
  let lastCounter = probe.counter();
  let lastOwn = probe.own();
  return () => {
    const counter = probe.counter();
    const own = probe.own();
    const others = counter - lastCounter - (own - lastOwn);
    lastCounter = counter;
    lastOwn = own;
    return others > 0;
  };
}

/** The persistent trigger that bumps the shared counter, remade as a TEMP trigger counting our own changes. */
export function ownCountingTrigger(name: string, sql: string): string {
  const own = sql
    .replace(/^CREATE TRIGGER "([^"]+)"/, (_, n: string) => `CREATE TEMP TRIGGER "own_${n}"`)
    .replace('UPDATE pbx_change_counter SET n = n + 1 WHERE id = 1', 'UPDATE own_change_counter SET n = n + 1');
  if (!own.startsWith('CREATE TEMP TRIGGER') || !own.includes('own_change_counter')) {
    throw new Error(`change-counter trigger ${name} has an unexpected form: ${sql}`);
  }
  return own;
}
