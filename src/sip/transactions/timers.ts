// RFC 3261 §17 timer values (Table 4). T1 is the RTT estimate, T2 the cap on
// non-INVITE retransmission intervals, T4 the time a message may linger in the network.
export interface TimerConfig {
  T1: number;
  T2: number;
  T4: number;
}

export const DEFAULT_TIMERS: TimerConfig = { T1: 500, T2: 4000, T4: 5000 };

export enum TransactionState {
  Calling = 'Calling',
  Trying = 'Trying',
  Proceeding = 'Proceeding',
  Completed = 'Completed',
  Confirmed = 'Confirmed',
  /** RFC 6026 §7.1: an INVITE transaction that saw a 2xx stays to absorb retransmissions. */
  Accepted = 'Accepted',
  Terminated = 'Terminated',
}

/** A set of named timers that are all cleared when the transaction ends. */
export class TimerSet {
  /**
   * Made on the first timer, let go with the last: most server transactions answer at once
   * and need none, and a transaction waiting out Timer J, K, L or M on its queue has none
   * left (an empty Map each was a tenth of the heap under 3,000 calls a second).
   */
  private handles: Map<string, NodeJS.Timeout> | undefined;

  start(name: string, ms: number, fire: () => void): void {
    this.stop(name);
    const h = setTimeout(() => {
      this.forget(name);
      fire();
    }, ms);
    (this.handles ??= new Map()).set(name, h);
  }

  stop(name: string): void {
    const h = this.handles?.get(name);
    if (h === undefined) return;
    clearTimeout(h);
    this.forget(name);
  }

  private forget(name: string): void {
    const handles = this.handles;
    if (handles === undefined) return;
    handles.delete(name);
    if (handles.size === 0) this.handles = undefined;
  }

  clear(): void {
    if (!this.handles) return;
    for (const h of this.handles.values()) clearTimeout(h);
    this.handles = undefined;
  }
}

/** Told when a transaction ends, to drop it from its table. */
export interface TransactionEnd<Self> {
  terminated(tx: Self): void;
}

/** What both client and server transactions share: a state, named timers, one end. */
export abstract class Transaction<Self> {
  /** Made on the first timer: most transactions end on a queue (retire) and need none. */
  private timerSet: TimerSet | undefined;

  constructor(
    readonly key: string,
    public state: TransactionState,
    // The table's owner object, shared by every transaction (a closure each would be one more object per transaction).
    private readonly ender: TransactionEnd<Self>,
  ) {}

  protected terminate(): void {
    if (this.state === TransactionState.Terminated) return;
    this.state = TransactionState.Terminated;
    this.timerSet?.clear();
    this.ender.terminated(this as unknown as Self);
  }

  /** Ends the transaction: its owner's queue (Timer J, K, L or M) says its time is up. */
  expire(): void {
    this.terminate();
  }

  /** Stops the timers without notifying anyone (shutdown). */
  dispose(): void {
    this.timerSet?.clear();
  }

  protected get timers(): TimerSet {
    return (this.timerSet ??= new TimerSet());
  }
}
