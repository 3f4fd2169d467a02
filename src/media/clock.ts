// One pacing clock for every media stream (not a timer per stream): it ticks every
// 20 ms against a fixed origin, so lateness does not accumulate, and when the event
// loop was held up it runs the missed ticks at once (up to a limit) so every stream
// still sends 50 packets a second on average.
import { performance } from 'node:perf_hooks';

export interface Tickable {
  /** One packetisation interval has passed. */
  tick(): void;
}

/** More than this many missed ticks (a stalled process) are dropped, not caught up. */
const MAX_CATCH_UP = 5;

export class MediaClock {
  private readonly members = new Set<Tickable>();
  private timer: NodeJS.Timeout | undefined;
  private origin = 0;
  private ticks = 0;
  /** Ticks the clock ran late by more than one period and caught up, and ticks dropped. */
  readonly counters = { caughtUp: 0, dropped: 0 };
  /** How late the last ticks started (ms after their due time), and how long sending them took. */
  private readonly late = new Float64Array(3000);
  private readonly busy = new Float64Array(3000);
  private measured = 0;

  constructor(readonly periodMs = 20) {}

  get size(): number {
    return this.members.size;
  }

  add(member: Tickable): void {
    this.members.add(member);
    if (!this.timer) {
      this.origin = performance.now();
      this.ticks = 0;
      this.schedule();
    }
  }

  remove(member: Tickable): void {
    this.members.delete(member);
    if (this.members.size === 0 && this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  /**
   * Over the last ticks (up to 3000, one minute): the p-th percentile of how late a tick
   * started, and of how long it took to send every stream's packet (ms). A stream's packet
   * spacing varies by at most the sum.
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
    this.members.clear();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    const due = this.origin + (this.ticks + 1) * this.periodMs;
    this.timer = setTimeout(() => this.fire(), Math.max(0, due - performance.now()));
    this.timer.unref();
  }

  private fire(): void {
    const now = performance.now();
    let ran = 0;
    while (this.origin + (this.ticks + 1) * this.periodMs <= now + 0.25) {
      if (ran === MAX_CATCH_UP) {
        // Far behind: start counting again from now rather than send a burst.
        const behind = Math.floor((now - this.origin) / this.periodMs) - this.ticks;
        this.counters.dropped += behind;
        this.ticks += behind;
        break;
      }
      if (ran > 0) this.counters.caughtUp++;
      const due = this.origin + (this.ticks + 1) * this.periodMs;
      this.ticks++;
      ran++;
      const start = performance.now();
      for (const m of this.members) m.tick();
      const i = this.measured++ % this.late.length;
      this.late[i] = Math.max(0, start - due);
      this.busy[i] = performance.now() - start;
    }
    if (this.members.size > 0) this.schedule();
    else this.timer = undefined;
  }
}
