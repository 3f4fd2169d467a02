// The in-memory copy of a table that a reload from the database may replace while the
// server keeps writing to it. A reload reads the table (an await), then swaps the copy's
// contents; a row this process created, changed or deleted meanwhile would come back as
// the read saw it, from before the write (a device added through the API answered 404
// until the next reload). The map notes the keys written while a read is in flight and
// keeps their current entries: those writes are in the database too, and a change another
// process makes to such a row afterwards sends its own notification and reload.
interface InFlight<K> {
  /** Entries set or deleted: the current entry stands. */
  readonly written: Set<K>;
  /** Entries changed in place (run-time state): the fresh row, with that state carried over. */
  readonly touched: Set<K>;
}

export class ReloadableMap<K, V> extends Map<K, V> {
  /** One per reload in flight (usually none, or one). */
  private readonly inFlight: InFlight<K>[] = [];

  override set(key: K, value: V): this {
    // Map's constructor calls set() before this class's fields exist.
    if (this.inFlight?.length) for (const r of this.inFlight) r.written.add(key);
    return super.set(key, value);
  }

  override delete(key: K): boolean {
    if (this.inFlight.length) for (const r of this.inFlight) r.written.add(key);
    return super.delete(key);
  }

  /** The entry for `key` had fields changed in place (its object mutated, not replaced). */
  touch(key: K): void {
    if (this.inFlight.length) for (const r of this.inFlight) r.touched.add(key);
  }

  /**
   * Replaces the contents with what `read` returns, except the keys set or deleted while it
   * ran; for a key touched meanwhile, `carry(current, fresh)` gives the entry (without it,
   * the current entry stands). Returns the contents from before, for telling what changed.
   */
  async reload(read: () => Promise<Iterable<readonly [K, V]>>, carry?: (current: V, fresh: V) => V): Promise<Map<K, V>> {
    const flight: InFlight<K> = { written: new Set(), touched: new Set() };
    this.inFlight.push(flight);
    let fresh: Iterable<readonly [K, V]>;
    try {
      fresh = await read();
    } finally {
      this.inFlight.splice(this.inFlight.indexOf(flight), 1);
    }
    const before = new Map(this);
    super.clear();
    const { written, touched } = flight;
    for (const [key, value] of fresh) {
      if (written.has(key)) continue;
      const current = touched.has(key) ? before.get(key) : undefined;
      super.set(key, current === undefined ? value : carry ? carry(current, value) : current);
    }
    for (const key of written) if (before.has(key)) super.set(key, before.get(key) as V);
    return before;
  }
}
