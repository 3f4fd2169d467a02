// A running baresip (Debian's), driven through its stdin menu and read from its output.
import type { ChildProcessWithoutNullStreams } from 'node:child_process';

export class Baresip {
  out = '';
  constructor(readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.on('data', (d) => (this.out += d));
    child.stderr.on('data', (d) => (this.out += d));
  }
  send(cmd: string): void {
    this.child.stdin.write(`${cmd}\n`);
  }
  async waitFor(re: RegExp, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!re.test(this.out)) {
      if (Date.now() > deadline) throw new Error(`baresip never printed ${re}:\n${this.out.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
