// One pacing clock for every media stream (not a timer per stream). Each stream ticks
// every 20 ms, but not all at once: the period is cut into slots (1 ms each by default)
// and each stream belongs to one slot, the least full when it joined. A tick of the
// clock serves one slot, so sending never holds the event loop for long (500 streams
// at once took ~9 ms, delaying what came next; a slot of 25 takes under half a
// millisecond), and received packets are handled in between.
// Slots are counted against a fixed origin, so lateness does not accumulate; when the
// event loop was held up, the missed slots run at once (up to a limit), so every
// stream still sends 50 packets a second on average.
import { performance } from 'node:perf_hooks';

export interface Tickable {
  /** One packetisation interval has passed. */
  tick(): void;
}

/** More than this many missed periods (a stalled thread) are dropped, not caught up. */
const MAX_CATCH_UP = 5;

export class MediaClock {
  private readonly slots: Set<Tickable>[];
  private readonly slotOf = new Map<Tickable, number>();
  private readonly slotMs: number;
  private timer: NodeJS.Timeout | undefined;
  private origin = 0;
  /** Slot ticks run since the origin. */
  private ticks = 0;
  /** Slot ticks run late by more than a period and caught up, and slot ticks dropped. */
  readonly counters = { caughtUp: 0, dropped: 0 };
  /** How late the last slot ticks started (ms after their due time), and how long they took. */
  private readonly late = new Float64Array(3000);
  private readonly busy = new Float64Array(3000);
  private measured = 0;

  constructor(
    readonly periodMs = 20,
    slotCount = periodMs,
  ) {
    this.slots = Array.from({ length: Math.max(1, slotCount) }, () => new Set<Tickable>());
    this.slotMs = periodMs / this.slots.length;
  }

  get size(): number {
    return this.slotOf.size;
  }

  add(member: Tickable): void {
    if (this.slotOf.has(member)) return;
    let best = 0;
    for (let i = 1; i < this.slots.length; i++) if (this.slots[i]!.size < this.slots[best]!.size) best = i;
    this.slots[best]!.add(member);
    this.slotOf.set(member, best);
    if (!this.timer) {
      this.origin = performance.now();
      this.ticks = 0;
      this.schedule();
    }
  }

  remove(member: Tickable): void {
    const slot = this.slotOf.get(member);
    if (slot === undefined) return;
    this.slots[slot]!.delete(member);
    this.slotOf.delete(member);
    if (this.slotOf.size === 0 && this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  /**
   * Over the last slot ticks (up to 3000): the p-th percentile of how late one started,
   * and of how long it took to run its streams (ms). A stream's packet spacing varies by
   * at most the sum.
   */
  timing(p: number): { lateMs: number; busyMs: number; ticks: number } {
    const n = Math.min(this.measured, this.late.length);
    const at = (a: Float64Array) => {
      if (n === 0) return 0;
      const s = Array.from(a.subarray(0, n)).sort((x, y) => x - y);
      return Math.round(s[Math.min(n - 1, Math.floor((p / 100) * n))]! * 100) / 100;
    };
    return { lateMs: at(this.late), busyMs: at(this.busy), ticks: n };
  }

  stop(): void {
    for (const s of this.slots) s.clear();
    this.slotOf.clear();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private dueOf(tick: number): number {
    return this.origin + tick * this.slotMs;
  }

  private schedule(): void {
    this.timer = setTimeout(() => this.fire(), Math.max(0, this.dueOf(this.ticks + 1) - performance.now()));
    this.timer.unref();
  }

  private fire(): void {
    const now = performance.now();
    let ran = 0;
    const limit = MAX_CATCH_UP * this.slots.length;
    while (this.dueOf(this.ticks + 1) <= now + 0.25) {
      if (ran === limit) {
        // Far behind: start counting again from now rather than send a burst.
        const behind = Math.floor((now - this.origin) / this.slotMs) - this.ticks;
        this.counters.dropped += behind;
        this.ticks += behind;
        break;
      }
      if (ran > 0 && now - this.dueOf(this.ticks + 1) > this.periodMs) this.counters.caughtUp++;
      const due = this.dueOf(this.ticks + 1);
      this.ticks++;
      ran++;
      const slot = this.slots[this.ticks % this.slots.length]!;
      if (slot.size === 0) continue;
      const start = performance.now();
      for (const m of slot) m.tick();
      const i = this.measured++ % this.late.length;
      this.late[i] = Math.max(0, start - due);
      this.busy[i] = performance.now() - start;
    }
    if (this.slotOf.size > 0) this.schedule();
    else this.timer = undefined;
  }
}
