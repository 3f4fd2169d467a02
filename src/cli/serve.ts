// `pbx serve`: load the config (writing a default one when missing), start the server
// (app.ts wires it), and shut down cleanly on SIGTERM/SIGINT so deferred writes land.
import { ConfigError, loadConfigFile } from '../config/load.js';
import { writeDefaultConfig } from '../config/default-file.js';
import { startServer } from '../app.js';
import { createLogger } from '../log.js';
import { VERSION } from '../version.js';

export async function serve(configFile: string): Promise<void> {
  const bootLog = createLogger('info');
  if (writeDefaultConfig(configFile)) {
    bootLog.info({ config_file: configFile }, `No config file found: wrote a commented default config to ${configFile}`);
  }
  let loaded;
  try {
    loaded = loadConfigFile(configFile);
  } catch (err) {
    if (err instanceof ConfigError) {
      bootLog.fatal({ config_file: configFile }, err.message);
      bootLog.flush();
      process.stderr.write(`pbx: ${err.message}\nThe server was not started.\n`);
      process.exit(2);
    }
    throw err;
  }
  const config = loaded.config;
  const log = createLogger(config.logging.level);
  // Start-up and shutdown lines say which config, database and ports are in use: they are
  // written whatever logging.level is (a quiet server must still say where it listens).
  const life = log.child({ component: 'lifecycle' }, { level: levelAtMost(config.logging.level, 'info') });
  life.info({ version: VERSION }, `pbx ${VERSION} starting`);
  life.info(`Config file: ${loaded.file}`);
  const server = await startServer(loaded, log, life);
  if (!server) {
    log.flush();
    process.exitCode = 1;
    return;
  }
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    life.info(`Received ${signal}: shutting down`);
    await server.stop();
    life.info('Stopped');
    log.flush();
    process.exit(0);
  };
  process.on('SIGHUP', () => void server.pbx.live.reload('SIGHUP'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

const ORDER = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

/** The more verbose of two levels. */
function levelAtMost(level: string, most: string): string {
  return ORDER.indexOf(level) <= ORDER.indexOf(most) ? level : most;
}
