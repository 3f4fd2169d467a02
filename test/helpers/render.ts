// A pbx in this process whose phone files a test renders and fetches directly (no HTTP), on
// a real SQLite file: what render threads and prepared files do, seen from the inside.
import { join } from 'node:path';
import { createPbx } from '../../src/app.ts';
import type { Pbx } from '../../src/application.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { createLogger } from '../../src/log.ts';
import type { FetchRequest } from '../../src/provisioning/fetch-outcomes.ts';
import { tempDir } from './server.ts';

/** Every device's first-fetch window is open to this LAN: no credential is needed. `provisioning` adds lines under it. */
export async function openRenderingPbx(threads: number, provisioning = '', dir = tempDir()): Promise<Pbx> {
  const file = join(dir, 'config.yml');
  const config = parseConfigText(`server:\n  external_ip: 192.168.1.14\ndatabase:\n  path: data/pbx.db\nprovisioning:\n  render_threads: ${threads}\n${provisioning}`, file);
  return createPbx({ file, config }, createLogger('silent'));
}

/** A phone's GET from the LAN, as the provisioning service receives it. */
export function lanGet(fileName: string, userAgent: string | null = null): FetchRequest {
  const path = `/provision/${fileName}`;
  return { fileName, path, target: path, method: 'GET', ip: '192.168.1.50', userAgent, localPort: 8080, legacy: false };
}

/** Counts the jobs sent to the render threads from now on. */
export function countRenderJobs(pbx: Pbx): () => number {
  const threads = pbx.files.threads!;
  const render = threads.render.bind(threads);
  let jobs = 0;
  threads.render = (job) => {
    jobs++;
    return render(job);
  };
  return () => jobs;
}
