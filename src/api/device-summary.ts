// The dashboard's figures over every phone (how many, how many registered, how many in
// each sync state) walk all of them: at 100,000 phones, with a sync state that may need
// the phone's file rendered, that is seconds of work. It is paced (util/paced.ts): renders
// on the render threads, the event loop given back between slices, so SIP keeps its pace
// while an admin looks at the dashboard.
import type { Device } from '../provisioning/devices.js';
import { paced } from '../util/paced.js';

export interface DeviceSummary {
  devices: number;
  registered: number;
  sync: Record<string, number>;
}

/**
 * Counts `devices`; `sync` (optional) names each one's sync state, given the device and its
 * position (it may render the file on a render thread, or read states already found).
 */
export async function summarizeDevices(
  devices: Iterable<Device>,
  isRegistered: (extension: string) => boolean,
  sync?: (device: Device, index: number) => string | Promise<string>,
): Promise<DeviceSummary> {
  const out: DeviceSummary = { devices: 0, registered: 0, sync: {} };
  const count = (st: string) => void (out.sync[st] = (out.sync[st] ?? 0) + 1);
  await paced(devices, (d) => {
    const index = out.devices++;
    if (d.lines[0] !== undefined && isRegistered(d.lines[0])) out.registered++;
    if (!sync) return;
    const st = sync(d, index);
    if (st instanceof Promise) return st.then(count);
    count(st);
  });
  return out;
}
