// Debian's rtpengine (rtpengine-daemon) started for a test: userspace forwarding only
// (`--table=-1`, no kernel module), no config file, its ng control port and RTP ports
// on the loopback, its SDP advertising `advertise` (as a relay behind NAT would).
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { freePort } from './server.ts';

export class Rtpengine {
  out = '';
  private sent = 0;
  private constructor(
    readonly child: ChildProcess,
    readonly ngPort: number,
    readonly portMin: number,
    readonly portMax: number,
  ) {
    child.stdout?.on('data', (d) => (this.out += d));
    child.stderr?.on('data', (d) => (this.out += d));
  }

  static async start(o: { advertise?: string; portMin: number; portMax: number }): Promise<Rtpengine> {
    const ngPort = await freePort();
    const iface = o.advertise ? `127.0.0.1!${o.advertise}` : '127.0.0.1';
    const child = spawn('rtpengine', ['--config-file=none', '--foreground', '--log-stderr', '--table=-1', `--interface=${iface}`, `--listen-ng=127.0.0.1:${ngPort}`, `--port-min=${o.portMin}`, `--port-max=${o.portMax}`, '--log-level=6']);
    const r = new Rtpengine(child, ngPort, o.portMin, o.portMax);
    for (const until = Date.now() + 10_000; !(await r.ping()); ) {
      if (Date.now() > until || child.exitCode !== null) throw new Error(`rtpengine did not start:\n${r.out.slice(-2000)}`);
      await new Promise((res) => setTimeout(res, 100));
    }
    return r;
  }

  /** True when rtpengine answers an ng ping. */
  async ping(): Promise<boolean> {
    return (await this.ng({ command: 'ping' }))?.['result'] === 'pong';
  }

  /** The Call-IDs of the calls rtpengine holds (ng `list`). */
  async calls(): Promise<string[]> {
    return ((await this.ng({ command: 'list' }))?.['calls'] as string[] | undefined) ?? [];
  }

  /** One ng request (JSON); null when rtpengine does not answer within 300 ms. */
  private ng(request: Record<string, unknown>): Promise<Record<string, unknown> | null> {
    return new Promise((resolve) => {
      const s = createSocket('udp4');
      const timer = setTimeout(() => {
        s.close();
        resolve(null);
      }, 300);
      s.on('message', (m) => {
        clearTimeout(timer);
        s.close();
        const text = m.toString();
        resolve(JSON.parse(text.slice(text.indexOf(' ') + 1)) as Record<string, unknown>);
      });
      // rtpengine answers a cookie it has seen from its cache: each request needs its own.
      s.send(`t${process.pid}_${++this.sent} ${JSON.stringify(request)}`, this.ngPort, '127.0.0.1');
    });
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }
}
