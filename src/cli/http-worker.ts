// Entry point of an HTTP worker process, forked by the server when api.workers > 0
// (src/http-worker.ts is what it runs).
import { runHttpWorker } from '../http-worker.js';

runHttpWorker().catch((err: Error) => {
  process.stderr.write(`pbx HTTP worker failed to start: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
