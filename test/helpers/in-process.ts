// The application and its HTTP routes in this process (fastify inject), on a real SQLite
// file in a fresh directory: for tests that need to reach inside (stall the event loop,
// read a service's state) rather than drive a separate server.
import { join } from 'node:path';
import { createPbx } from '../../src/app.ts';
import type { Pbx } from '../../src/application.ts';
import { buildHttp, type Http } from '../../src/api/server.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { createLogger } from '../../src/log.ts';
import { tempDir } from './server.ts';

export interface InProcess {
  pbx: Pbx;
  app: Http;
  close(): Promise<void>;
}

export async function inProcess(configText = ''): Promise<InProcess> {
  const file = join(tempDir(), 'config.yml');
  const pbx = await createPbx({ file, config: parseConfigText(configText, file) }, createLogger('silent'));
  const app = await buildHttp(pbx);
  return {
    pbx,
    app,
    async close() {
      await app.close();
      await pbx.close();
    },
  };
}
