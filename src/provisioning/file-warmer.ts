// Phone files made before the phones ask for them (provisioning.prepare_files). After a
// power cut the server and every phone start again together, and after a change that
// stales every file (the server's address, a template) the resync brings the phones back
// together too: a boot storm. Each file rendered while phones wait is CPU their requests
// queue behind, on a box whose cores the server's other threads already share. So once
// the server listens, and after each such change, every phone that has fetched before has
// its boot files made in the background, for the firmware it last announced; a phone that
// never fetched has nothing to prepare for (its firmware is not known yet).
//
// A few phones at a time, paced as the admin's walks over every phone are (util/paced): a
// phone's own render queues behind at most a few prepared ones, and the event loop is given
// back between slices. Nothing is recorded: preparing is rendering, not a fetch.
import type { Logger } from '../log.js';
import { paced } from '../util/paced.js';
import type { Device, DeviceService } from './devices.js';
import type { PhoneFiles } from './phone-files.js';

/** Phones whose files are on a render thread at once. */
const PHONES_AT_ONCE = 4;

export class FileWarmer {
  private readonly queue = new Set<string>();
  private walking = false;
  private started = false;
  /** A pass over every device: when it began and how many it queued (for the log line). */
  private pass: { began: number; devices: number } | null = null;

  constructor(
    private readonly files: PhoneFiles,
    private readonly devices: DeviceService,
    private readonly log: Logger,
    private readonly enabled: () => boolean,
  ) {
    files.onForgotten((mac) => {
      if (!this.started) return;
      if (mac === null) this.all();
      else this.one(mac);
    });
  }

  /** Begins: every known phone's files are made in the background. */
  start(): void {
    this.started = true;
    this.all();
  }

  stop(): void {
    this.started = false;
    this.queue.clear();
    this.pass = null;
  }

  /** Phones waiting to have their files made. */
  get waiting(): number {
    return this.queue.size;
  }

  private all(): void {
    this.queue.clear();
    if (!this.enabled()) return;
    for (const d of this.devices.all()) if (FileWarmer.hasFetched(d)) this.queue.add(d.mac);
    this.pass = this.queue.size > 0 ? { began: performance.now(), devices: this.queue.size } : null;
    this.drain();
  }

  private one(mac: string): void {
    const d = this.devices.get(mac);
    if (!d || !FileWarmer.hasFetched(d) || !this.enabled()) return;
    this.queue.add(mac);
    this.drain();
  }

  /** A phone that fetched before will fetch again; one that never did has no known firmware. */
  private static hasFetched(d: Device): boolean {
    return d.lastProvisioned !== null;
  }

  /** Walks the queue (paced: the loop given back between slices) unless a walk is under way. */
  private drain(): void {
    if (this.walking || this.queue.size === 0) return;
    this.walking = true;
    // Begun on a turn of its own: a change's caller (an API request) is not kept waiting.
    setImmediate(() => {
      void paced(this.take(), (mac) => this.prepare(mac), PHONES_AT_ONCE).finally(() => {
        this.walking = false;
        if (this.started && this.queue.size > 0) this.drain();
        else this.finishPass();
      });
    });
  }

  /** The queued phones, first in first out, including those queued while the walk goes on. */
  private *take(): Generator<string> {
    for (;;) {
      const mac = this.queue.values().next().value;
      if (mac === undefined || !this.started) return;
      this.queue.delete(mac);
      yield mac;
    }
  }

  private prepare(mac: string): Promise<unknown> | undefined {
    const device = this.devices.get(mac);
    try {
      return device ? this.files.prepare(device)?.catch(() => undefined) : undefined;
    } catch (err) {
      // A render error is the phone's own fetch's to report (with its outcome); the rest go on.
      this.log.debug({ err, mac }, `Phone files for ${mac} not prepared: ${(err as Error).message}`);
      return undefined;
    }
  }

  private finishPass(): void {
    if (!this.pass) return;
    const seconds = (performance.now() - this.pass.began) / 1000;
    this.log.info(`Phone files prepared for ${this.pass.devices} phone(s) in ${seconds.toFixed(1)} s, ready for their next boot`);
    this.pass = null;
  }
}
