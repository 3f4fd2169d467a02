// A network namespace joined to this one by a veth pair: "another host" for tests of
// bans and spoofing (this server never bans its own addresses, so loopback hides them).
// Commands run inside it with `ip netns exec`; it is removed with its veth pair.
import { execFileSync, execFile } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './server.ts';

export class Netns {
  readonly name: string;
  readonly hostIp: string;
  readonly peerIp: string;
  /** A second address inside the namespace: another host on the same link. */
  readonly peerIp2: string;
  private readonly hostIf: string;

  constructor(tag: string) {
    const n = (process.pid % 200) + 20;
    const k = Math.abs([...tag].reduce((h, c) => (h * 31 + c.charCodeAt(0)) | 0, 7)) % 200;
    this.name = `pbx${tag}${process.pid}`;
    this.hostIf = `pbh${k}${process.pid % 10000}`;
    const nsIf = `pbn${k}${process.pid % 10000}`;
    this.hostIp = `10.${202 + (k % 40)}.${n}.1`;
    this.peerIp = `10.${202 + (k % 40)}.${n}.2`;
    this.peerIp2 = `10.${202 + (k % 40)}.${n}.3`;
    const sh = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
    sh('netns', 'add', this.name);
    sh('link', 'add', this.hostIf, 'type', 'veth', 'peer', 'name', nsIf);
    sh('link', 'set', nsIf, 'netns', this.name);
    sh('addr', 'add', `${this.hostIp}/24`, 'dev', this.hostIf);
    sh('link', 'set', this.hostIf, 'up');
    sh('netns', 'exec', this.name, 'ip', 'addr', 'add', `${this.peerIp}/24`, 'dev', nsIf);
    sh('netns', 'exec', this.name, 'ip', 'addr', 'add', `${this.peerIp2}/24`, 'dev', nsIf);
    sh('netns', 'exec', this.name, 'ip', 'link', 'set', nsIf, 'up');
    sh('netns', 'exec', this.name, 'ip', 'link', 'set', 'lo', 'up');
  }

  /**
   * Gives this host one more address on the link and makes it the source of what this
   * host sends to `peerIp`: to the namespace, this host's address has changed (as a
   * NAT's public address does when the provider hands out a new one).
   */
  moveHostAddress(): string {
    const next = this.hostIp.replace(/\.1$/, `.${this.moves + 4}`);
    this.moves++;
    execFileSync('ip', ['addr', 'add', `${next}/24`, 'dev', this.hostIf], { stdio: 'pipe' });
    execFileSync('ip', ['route', 'replace', `${this.peerIp}/32`, 'dev', this.hostIf, 'src', next], { stdio: 'pipe' });
    return next;
  }

  private moves = 0;

  /** Runs test/helpers/sip-actor.ts inside the namespace with `plan`; resolves with its JSON answer. */
  actor<T = unknown>(plan: unknown, timeoutMs = 60_000): Promise<T> {
    return new Promise((ok, fail) => {
      execFile(
        'ip',
        ['netns', 'exec', this.name, process.execPath, '--import', 'tsx', join(ROOT, 'test/helpers/sip-actor.ts'), JSON.stringify(plan)],
        { cwd: ROOT, timeout: timeoutMs },
        (err, stdout, stderr) => {
          if (err) return fail(new Error(`sip-actor failed: ${err.message}\n${stderr}`));
          ok(JSON.parse(stdout.trim().split('\n').pop()!) as T);
        },
      );
    });
  }

  /** A GET from inside the namespace (`from`: its address there), on a connection of its own; resolves with the status. */
  getStatus(url: string, from = this.peerIp): Promise<number> {
    return new Promise((ok, fail) => {
      execFile('ip', ['netns', 'exec', this.name, 'curl', '-s', '-o', '/dev/null', '-m', '10', '--interface', from, '-w', '%{http_code}', url], (err, stdout) =>
        err ? fail(err) : ok(Number(stdout)),
      );
    });
  }

  close(): void {
    try {
      execFileSync('ip', ['netns', 'del', this.name], { stdio: 'pipe' }); // removes the veth pair with it
    } catch {
      /* already gone */
    }
  }
}
