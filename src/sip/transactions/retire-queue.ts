// Transactions that only wait out a fixed time before they end: Timer J and L (server,
// 64*T1), Timer M (INVITE client, 64*T1) and Timer K (non-INVITE client, T4). Every
// transaction of one kind waits the same time, so they end in the order they arrived:
// one queue and one interval per duration instead of a timer (and its closure) each.
// A busy server holds tens of thousands of them at once.

export interface Retiring {
  /** Ends the transaction; called once its time is up (late by at most one tick). */
  expire(): void;
}

export class RetireQueue {
  private readonly due: number[] = [];
  private readonly items: Retiring[] = [];
  private head = 0;
  private ticker: NodeJS.Timeout | undefined;

  /** `tickMs`: how often the front is checked; the wait is a minimum, so a little late is fine. */
  constructor(
    private readonly waitMs: number,
    private readonly tickMs = 250,
  ) {}

  get size(): number {
    return this.items.length - this.head;
  }

  add(item: Retiring): void {
    this.due.push(Date.now() + this.waitMs);
    this.items.push(item);
    if (!this.ticker) {
      this.ticker = setInterval(() => this.sweep(), this.tickMs);
      this.ticker.unref();
    }
  }

  /** Forgets everything without ending it (shutdown). */
  clear(): void {
    clearInterval(this.ticker);
    this.ticker = undefined;
    this.due.length = 0;
    this.items.length = 0;
    this.head = 0;
  }

  private sweep(): void {
    const now = Date.now();
    let i = this.head;
    const end = this.items.length;
    while (i < end && this.due[i]! <= now) {
      const item = this.items[i]!;
      this.items[i] = DONE;
      i++;
      item.expire();
    }
    if (i === this.items.length) {
      this.clear();
      return;
    }
    // Drop the ended front now and then, not on every tick: one copy per half a queue.
    if (i > 4096 && i > this.items.length / 2) {
      this.due.splice(0, i);
      this.items.splice(0, i);
      i = 0;
    }
    this.head = i;
  }
}

/** Put where an ended item was, so the queue does not keep it alive until the next compaction. */
const DONE: Retiring = { expire() {} };
