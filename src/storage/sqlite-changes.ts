// SQLite's counterpart of PostgreSQL's LISTEN/NOTIFY (pg-changes.ts): did another process
// (the `pbx` CLI beside the server) change a table the server mirrors in memory?
// `PRAGMA data_version` moves when any other connection commits, and the server's own
// writer thread (sqlite-writer.ts) is one, committing bindings many times a second. The
// change counter (migration 0020) moves on each change to a mirrored table, by anyone,
// the server's own connection included. A change is another process's when both moved:
// between two looks where no other connection committed, a counter move was ours.
// (A change made here in the same second as a writer-thread commit reads as another's:
// one reload, not a missed change.)

export interface ChangeProbe {
  /** PRAGMA data_version on the server's main connection. */
  dataVersion(): number;
  /** pbx_change_counter.n */
  counter(): number;
}

/** Returns a function to call once a second: true when another process changed a mirrored table. */
export function otherProcessChanges(probe: ChangeProbe): () => boolean {
  let lastVersion = probe.dataVersion();
  let lastCounter = probe.counter();
  return () => {
    const before = probe.dataVersion();
    const counter = probe.counter();
    // A commit between the two versions: the counter may or may not include it. Look next time.
    if (probe.dataVersion() !== before) return false;
    const otherCommitted = before !== lastVersion;
    lastVersion = before;
    const moved = counter !== lastCounter;
    lastCounter = counter;
    return otherCommitted && moved;
  };
}
