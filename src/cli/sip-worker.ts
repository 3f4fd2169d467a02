// Entry point of a SIP worker process, forked by the server when sip.workers > 0
// (src/sip-worker.ts is what it runs).
import { runSipWorker } from '../sip-worker.js';

runSipWorker().catch((err: Error) => {
  process.stderr.write(`pbx SIP worker failed to start: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
