// `pbx serve`: load the config (writing a default one when missing), open storage,
// start the listeners, and shut down cleanly on SIGTERM/SIGINT so deferred writes land.
import { ConfigError, loadConfigFile } from '../config/load.js';
import { writeDefaultConfig } from '../config/default-file.js';
import { createPbx } from '../app.js';
import { buildHttp } from '../api/server.js';
import { HttpListeners } from '../api/listeners.js';
import { createLogger } from '../log.js';
import { deriveConfigUrl } from '../provisioning/config-url.js';
import { ProvisioningTftp, tftpAddress } from '../provisioning/tftp.js';
import { VERSION } from '../version.js';
import { formatHost } from '../sip/uri.js';
import { ConfigApplyError } from '../config/live.js';

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
  const pbx = await createPbx(loaded, log, { serve: true });
  life.info(`Database: ${pbx.database.describe}`);
  const http = await buildHttp(pbx);
  const listeners = new HttpListeners(http, pbx.database.db, log);
  const portProblem = (err: unknown, what: string, port: number, host: string, key: string) => {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EADDRINUSE' ? 'is already in use by another process' : code === 'EACCES' ? 'needs privileges this user lacks (CAP_NET_BIND_SERVICE)' : (err as Error).message;
    return `${what} port ${port} on ${host} ${why}; change ${key} in ${loaded.file} or stop the other process`;
  };
  try {
    await listeners.start(config);
  } catch (err) {
    log.fatal(portProblem(err, 'API', config.api.port, config.api.host, 'api.port'));
    await pbx.close();
    log.flush();
    process.exitCode = 1;
    return;
  }
  try {
    await pbx.startSip();
  } catch (err) {
    log.fatal(portProblem(err, 'SIP', config.server.sip_port, config.server.sip_host, 'server.sip_port'));
    await listeners.close();
    await pbx.close();
    log.flush();
    process.exitCode = 1;
    return;
  }
  // TFTP for phones pointed at a bare address (provisioning.tftp_port; 0 = off).
  const tftp = new ProvisioningTftp({ config: pbx.config, provisioning: pbx.provisioning, guard: pbx.guard, log: log.child({ component: 'tftp' }), lifecycle: life });
  const tftpProblem = (err: unknown, next: typeof config) =>
    portProblem(err, 'TFTP', next.provisioning.tftp_port, tftpAddress(next)?.host ?? '', 'provisioning.tftp_port');
  try {
    await tftp.apply(config);
  } catch (err) {
    log.fatal(tftpProblem(err, config));
    await listeners.close();
    await pbx.close();
    log.flush();
    process.exitCode = 1;
    return;
  }
  life.info(`API port: ${config.api.port} (${config.api.ssl.enabled ? 'https' : 'http'}://${config.api.host}:${config.api.port})`);
  life.info(`Provisioning URL format: ${config.provisioning.url_format} → ${deriveConfigUrl(config, 'aabbccddeeff', 'lower')}`);
  const setupFile = await http.firstAdminSetup.prepare();
  if (setupFile) {
    const scheme = config.api.ssl.enabled ? 'https' : 'http';
    life.warn(
      { setup_token_file: setupFile },
      `No admin account yet: open ${scheme}://${formatHost(config.server.external_ip)}:${config.api.port}/admin/ and enter the one-time setup token from ${setupFile}, or run: pbx admin create <name>`,
    );
  }

  // Live configuration: the file is watched, SIGHUP re-reads it, the API writes it.
  // Ports are bound before a change is adopted: one that cannot be opened refuses the
  // change (the API answers 400 at that key) instead of naming a port nobody listens on.
  pbx.live.onApply(async (change) => {
    try {
      await listeners.apply(change.previous, change.next);
    } catch (err) {
      const port = change.next.provisioning.http_port !== change.previous.provisioning.http_port && change.next.api.port === change.previous.api.port;
      throw port
        ? new ConfigApplyError('provisioning.http_port', portProblem(err, 'Plain-HTTP provisioning', change.next.provisioning.http_port, change.next.api.host, 'provisioning.http_port'))
        : new ConfigApplyError('api.port', portProblem(err, 'API', change.next.api.port, change.next.api.host, 'api.port'));
    }
  });
  pbx.live.onApply(async (change) => {
    try {
      await tftp.apply(change.next);
    } catch (err) {
      // apply() let go of the old port first: take it back.
      await tftp.apply(change.previous).catch((again) => log.error(tftpProblem(again, change.previous)));
      throw new ConfigApplyError('provisioning.tftp_port', tftpProblem(err, change.next));
    }
  });
  pbx.live.watchFile();

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    life.info(`Received ${signal}: shutting down`);
    await listeners.close();
    await tftp.close();
    await http.close();
    await pbx.close();
    life.info('Stopped');
    log.flush();
    process.exit(0);
  };
  process.on('SIGHUP', () => void pbx.live.reload('SIGHUP'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

const ORDER = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

/** The more verbose of two levels. */
function levelAtMost(level: string, most: string): string {
  return ORDER.indexOf(level) <= ORDER.indexOf(most) ? level : most;
}
