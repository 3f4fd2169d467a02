// The dashboard's figures over every phone (how many, how many registered, how many in
// each sync state) walk all of them: at 100,000 phones, with a sync state that may need
// the phone's file rendered, that is seconds of work. It runs in slices, giving the event
// loop back between them, so SIP keeps its pace while an admin looks at the dashboard.
import type { Device } from '../provisioning/devices.js';

export interface DeviceSummary {
  devices: number;
  registered: number;
  sync: Record<string, number>;
}

const SLICE = 200;

/** Counts `devices`; `sync` (optional) names each one's sync state. */
export async function summarizeDevices(
  devices: Iterable<Device>,
  isRegistered: (extension: string) => boolean,
  sync?: (device: Device) => string,
): Promise<DeviceSummary> {
  const out: DeviceSummary = { devices: 0, registered: 0, sync: {} };
  for (const d of devices) {
    out.devices++;
    if (d.lines[0] !== undefined && isRegistered(d.lines[0])) out.registered++;
    if (sync) {
      const st = sync(d);
      out.sync[st] = (out.sync[st] ?? 0) + 1;
    }
    if (out.devices % SLICE === 0) await new Promise<void>((r) => setImmediate(r));
  }
  return out;
}
