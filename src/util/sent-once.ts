// Values a worker thread keeps once it is sent them (a render context, an SQL text), named
// by a number afterwards, so that a message does not copy them again (structured clone).
// At most `limit` are kept: past that, the next message tells the thread to forget them
// all, and both sides start anew. The thread's side is a map from number to value.
export class SentOnce<V> {
  private readonly ids = new Map<V, number>();
  private next = 1;

  constructor(private readonly limit: number) {}

  /** Once per message, before naming its values: true when the thread must forget what it kept. */
  startMessage(): boolean {
    if (this.ids.size < this.limit) return false;
    this.ids.clear();
    return true;
  }

  /** The number of a value the thread has already been sent; undefined: the message must carry it. */
  known(value: V): number | undefined {
    return this.ids.get(value);
  }

  /** Numbers a value this message carries. */
  add(value: V): number {
    const id = this.next++;
    this.ids.set(value, id);
    return id;
  }

  /** A new thread keeps nothing yet. */
  reset(): void {
    this.ids.clear();
  }
}
