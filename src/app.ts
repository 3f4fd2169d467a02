// The composition root: the only module that knows every part. It opens storage,
// builds the services from the config, and (for `pbx serve`) starts the listeners.
import { availableParallelism } from 'node:os';
import type { DataChange, Pbx, ServiceHooks, SipParts, SipStats } from './application.js';
import type { LoadedConfig } from './config/load.js';
import { LiveConfig } from './config/live.js';
import type { PbxConfig } from './config/schema.js';
import type { Logger } from './log.js';
import { ExtensionService } from './pbx/extensions.js';
import { PbxError } from './pbx/errors.js';
import { SecretBox } from './security/secret-box.js';
import { openDatabase, type OpenedDatabase } from './storage/database.js';
import { ExternalChanges } from './storage/external-changes.js';
import { WriteBehind } from './storage/write-behind.js';
import { DeviceService, type DeviceAuthState } from './provisioning/devices.js';
import { UploadStore } from './provisioning/uploads.js';
import { PhoneFiles, templateCatalog } from './provisioning/phone-files.js';
import { RenderThreads } from './provisioning/render-threads.js';
import { FileWarmer } from './provisioning/file-warmer.js';
import { RequestLog } from './provisioning/request-log.js';
import { ProvisioningService } from './provisioning/service.js';
import { VendorRegistry } from './provisioning/vendors/index.js';
import { TokenStore } from './accounts/tokens.js';
import { AdminStore } from './accounts/admins.js';
import { FirstAdminSetup } from './accounts/first-admin.js';
import { dirname, join } from 'node:path';
import { SipStack } from './sip/stack.js';
import type { ListenSpec } from './sip/transport.js';
import type { SentBy } from './sip/requests.js';
import type { DigestAlgorithm } from './sip/digest.js';
import { DigestAuth } from './pbx/digest-auth.js';
import { Location } from './pbx/location.js';
import { Registrar } from './pbx/registrar.js';
import { Calls } from './pbx/calls.js';
import { SipProxy } from './pbx/proxy.js';
import { DialogStore } from './pbx/dialog-store.js';
import { SipService } from './pbx/sip-service.js';
import { NatKeepalive } from './pbx/keepalive.js';
import { FloodGuard } from './pbx/flood-guard.js';
import { announceBans, BANS, holdOtherNodesBans, type SharedGuard } from './pbx/node-bans.js';
import type { Flow } from './sip/transport.js';
import type { SipRequest } from './sip/message.js';
import { Resync } from './provisioning/resync.js';
import { ProvisioningGuard } from './provisioning/guard.js';
import { ProvisioningAuth } from './provisioning/http-auth.js';
import { SecurityLog } from './security/security-log.js';
import { VERSION } from './version.js';
import { buildHttp } from './api/server.js';
import { HttpListeners } from './api/listeners.js';
import { HttpWorkers } from './api/http-workers.js';
import { fromNote } from './provisioning/fetch-outcomes.js';
import { fileURLToPath } from 'node:url';
import { deriveConfigUrl } from './provisioning/config-url.js';
import { ProvisioningTftp, tftpAddress } from './provisioning/tftp.js';
import { formatHost } from './sip/uri.js';
import { ConfigApplyError } from './config/live.js';
import type { DoctorSources } from './diagnostics/checks.js';
import { readFileSync } from 'node:fs';
import { addressToward, hostAddresses } from './util/net.js';
import { ThreadedMediaEngine } from './media/threaded-engine.js';
import { TrunkStore } from './pbx/trunks/store.js';
import { Trunks } from './pbx/trunks/index.js';
import { trunkTargets } from './pbx/trunks/targets.js';
import { TrunkBridge } from './pbx/trunks/b2bua.js';
import { OutboundCalls } from './pbx/trunks/outbound.js';
import { InboundCalls } from './pbx/trunks/inbound.js';
import { TrunkSources } from './pbx/trunks/sources.js';
import { NgClient, RtpengineRelay } from './media/rtpengine.js';
import { AnchoredMedia } from './pbx/media-anchor.js';
import { natReason } from './pbx/nat.js';
import { EdgeProxies } from './pbx/edge.js';
import { watchListenOverflows } from './api/load-shedding.js';
import type { RelayFactory } from './media/engine.js';
import { PublicAddress } from './config/public-address.js';
import { lanAddress } from './config/default-file.js';
import { announce } from './services/announcement.js';
import { flowToBinding } from './pbx/reach.js';
import { ServiceAgent } from './pbx/service-agent.js';
import { Voicemail } from './services/voicemail/index.js';

export interface CreateOptions {
  /** Seed devices from `provisioning.devices` and watch for changes by other processes (server only). */
  serve?: boolean;
}

export async function createPbx(loaded: LoadedConfig, log: Logger, opts: CreateOptions = {}): Promise<Pbx> {
  const live = new LiveConfig(
    loaded.file,
    loaded.config,
    (err, reason) => log.error({ reason }, `Configuration change refused (${reason}); keeping the running configuration. ${err.message}`),
    (message, reason) => log.info({ reason }, message),
  );
  const config = () => live.current;
  // server.external_ip: auto → the address STUN reports, applied live when it changes.
  const publicAddress = new PublicAddress({
    servers: () => config().server.stun_servers,
    intervalSeconds: () => config().server.stun_interval_seconds,
    fallback: () => lanAddress() ?? '127.0.0.1',
    onChange: async () => void (await live.rederive('public address changed (STUN)')),
    log: log.child({ component: 'stun' }),
  });
  let stun: 'off' | 'running' = 'off';
  const derive = (c: PbxConfig): PbxConfig => {
    if (c.server.external_ip !== 'auto') {
      if (stun === 'running') publicAddress.stop();
      stun = 'off';
      return c;
    }
    if (opts.serve && stun === 'off') {
      // Turned on while running: applied once the first answer is in.
      stun = 'running';
      void publicAddress.start().then(() => live.rederive('public address found (STUN)'));
    }
    return { ...c, server: { ...c.server, external_ip: publicAddress.current } };
  };
  if (opts.serve && loaded.config.server.external_ip === 'auto') {
    // Before anything is advertised: the first SDP, Via and phone file carry the public address.
    stun = 'running';
    await publicAddress.start();
  }
  live.setDerive(derive);
  const database = await openDatabase(config().database, { onError: (err) => log.warn({ err }, `Database connection problem: ${err.message}`) });
  const db = database.db;
  const box = SecretBox.fromKeyFile(config().security.key_file);
  const securityLog = new SecurityLog(() => config().security.log_file);
  const writeBehind = new WriteBehind(db, 200, (err) => log.error({ err }, 'Deferred database write failed'), database.writeOffThread);
  writeBehind.onUnreachable = (err, held, keptMs) => {
    if (err) log.warn({ err, held }, `Database unreachable (${err.message}): ${held} deferred write(s) kept and tried again for up to 2 minutes`);
    else log.info(`Database reachable again: the deferred writes kept for ${(keptMs / 1000).toFixed(1)} s are written`);
  };
  const extensions = new ExtensionService(db, box);
  const vendors = new VendorRegistry();
  const devices = new DeviceService(db, vendors, extensions, writeBehind, box);
  await extensions.load();
  await devices.load();
  const trunkStore = new TrunkStore(db, box);
  await trunkStore.load();

  const templates = templateCatalog(vendors, config);
  templates.loadAll();

  const uploads = new UploadStore(() => config().provisioning.uploads_dir);
  const files = new PhoneFiles(config, vendors, templates, devices, extensions, uploads);
  const renderThreads = config().provisioning.render_threads;
  if (renderThreads > 0) {
    files.threads = new RenderThreads(renderThreads, (err) => log.error({ err }, `A render thread failed (${err.message}); its files are rendered on the main thread`));
    if (opts.serve) files.threads.start();
  }
  const fileWarmer = new FileWarmer(files, devices, log.child({ component: 'provisioning' }), () => config().provisioning.prepare_files);
  // A removed device's uploads go with it (from the API, the CLI or another node).
  devices.onChange((mac) => {
    if (!devices.get(mac)) uploads.removeAll(mac);
  });
  const requestLog = new RequestLog(db, writeBehind, () => config().provisioning.request_log_max_entries);
  const guard = new ProvisioningGuard(() => config().provisioning.guard, securityLog);
  const provisioningAuth = new ProvisioningAuth(() => config().provisioning.auth);
  const provisioning = new ProvisioningService(
    files,
    devices,
    vendors,
    requestLog,
    log.child({ component: 'provisioning' }),
    guard,
    securityLog,
    provisioningAuth,
  );
  const tokens = new TokenStore(db);
  const admins = new AdminStore(db, tokens);
  const firstAdminSetup = new FirstAdminSetup(admins, join(dirname(config().security.key_file), 'setup-token'));

  const sip = createSip(config, extensions, database, writeBehind, log.child({ component: 'sip' }), securityLog, box.derive('sip-digest-decoys'));
  await sip.location.load();
  await sip.proxy.restore();
  const trunks = new Trunks(trunkStore, {
    stack: sip.stack,
    advertise: (t) => advertised(config(), t),
    targets: (t) => trunkTargets(t),
    intervalSeconds: () => config().sip.trunk_options_seconds,
    log: log.child({ component: 'trunks' }),
  });
  const voicemail = new Voicemail({
    db,
    stack: sip.stack,
    location: sip.location,
    agent: sip.agent,
    calls: sip.calls,
    config,
    isExtension: (n) => extensions.get(n)?.enabled === true,
    advertise: (t) => advertised(config(), t),
    onPinFailure: (ip, mailbox) => {
      securityLog.write('auth-failure', { ip, service: 'voicemail', user: mailbox, reason: 'wrong PIN' });
      sip.guard.authFailure(ip, mailbox);
    },
    smtp: () => {
      const s = config().voicemail.smtp;
      // A sealed password (pbx secret seal) is opened here; a plain one is taken as it is.
      return { ...s, password: s.password.startsWith('enc:') ? box.open(s.password) : s.password, from: s.from || `voicemail@${config().server.external_ip}` };
    },
    log: log.child({ component: 'voicemail' }),
  });
  await voicemail.load();
  // PINs older versions kept sealed are hashed into the mailbox, and the sealed copy goes.
  for (const e of extensions.list()) {
    if (e.voicemailPin === null) continue;
    if (!voicemail.store.mailbox(e.number).hasPin) await voicemail.store.updateMailbox(e.number, { pin: e.voicemailPin }, { existingPin: true });
    await extensions.dropSealedPin(e.number);
    log.info({ extension: e.number }, `Voicemail PIN of ${e.number} moved from sealed storage to a hash`);
  }
  files.hasMailbox = (n) => voicemail.hasMailbox(n);
  extensions.pins = { check: (n, pin) => voicemail.store.checkPin(n, pin), set: async (n, pin) => void (await voicemail.store.updateMailbox(n, { pin })) };
  sip.services.serviceFor = (dialled, caller) => voicemail.serviceFor(dialled, caller);
  sip.services.subscriptions = voicemail.mwi;
  const ng = new NgClient(() => config().media.rtpengine_ng);
  const rtpengine: RelayFactory = { openRelay: () => RtpengineRelay.open(ng) };
  const relays = (): RelayFactory => (config().media.engine === 'rtpengine' ? rtpengine : sip.media);
  // Calls between phones: anchored with media.anchor: always, or nat when a party is behind NAT.
  const anchorLog = log.child({ component: 'media' });
  sip.proxy.anchor = (invite, caller, callerFlow, callees) => {
    const mode = config().media.anchor;
    if (mode === 'never' || callees.length === 0) return null;
    if (mode === 'nat') {
      const why = natReason(invite, callerFlow, callees);
      if (!why) return null;
      anchorLog.debug({ call_id: invite.callId }, `Call from ${caller} anchored: ${why}`);
    }
    const external = config().server.external_ip;
    return Promise.all([relays().openRelay(), addressToward(callerFlow.remoteAddress, external), addressToward(callees[0]!.sourceAddress, external)]).then(
      ([relay, towardCaller, towardCallee]) => new AnchoredMedia(relay, { caller: towardCaller, callee: towardCallee }),
    );
  };
  const bridge = new TrunkBridge({
    stack: sip.stack,
    relays,
    addressToward: (phone) => addressToward(phone, config().server.external_ip),
    calls: sip.calls,
    targets: (t) => trunkTargets(t),
    opts: () => ({
      advertise: (t) => advertised(config(), t),
      mediaAddress: config().server.external_ip,
      t1: sip.stack.timers.T1,
      t2: sip.stack.timers.T2,
      userAgent: `pbx/${VERSION}`,
      oneWaySeconds: config().media.one_way_seconds,
      trunkTimeoutSeconds: config().sip.trunk_timeout_seconds,
    }),
    log: log.child({ component: 'trunks' }),
  });
  const outbound = new OutboundCalls({
    dialplan: () => config().dialplan,
    trunks: trunkStore,
    bridge,
    securityLog,
    classOf: (n) => extensions.get(n)?.outboundClass ?? null,
    nameOf: (n) => extensions.get(n)?.name ?? null,
    isDown: (n) => {
      const t = trunkStore.get(n);
      return t !== undefined && trunks.status(t).health.up === false;
    },
    log: log.child({ component: 'trunks' }),
  });
  const announcements = { agent: sip.agent, calls: sip.calls, sound: (n: string) => voicemail.prompts.get(n), log: log.child({ component: 'trunks' }) };
  const trunkSources = new TrunkSources(trunkStore, (t) => trunkTargets(t), log.child({ component: 'trunks' }));
  const inbound = new InboundCalls({
    dialplan: () => config().dialplan,
    sources: trunkSources,
    trunks: trunkStore,
    bridge,
    calls: sip.calls,
    isExtension: (n) => extensions.get(n)?.enabled === true,
    contactsOf: (n) =>
      sip.location.lookup(n).flatMap((b) => {
        const flow = flowToBinding(sip.stack, b);
        return flow ? [{ contact: b.contact, flow, path: b.path ?? [] }] : [];
      }),
    ringSecondsFor: (n) => (voicemail.hasMailbox(n) ? voicemail.store.mailbox(n).noAnswerSeconds : null) ?? config().sip.no_answer_seconds,
    voicemail: (req, server, flow, call, reason) => voicemail.divert(req, server, flow, call, reason),
    announce: (req, server, flow, call, name) => announce(announcements, req, server, flow, call, name),
    securityLog,
    onSpoof: (ip) => sip.guard.authFailure(ip),
    log: log.child({ component: 'trunks' }),
  });
  sip.services.trunkCalls = {
    outbound: (req, tx, flow, caller, dialled) => outbound.handle(req, tx, flow, caller, dialled),
    inbound: (req, tx, flow) => inbound.handle(req, tx, flow),
    isTrunkAddress: (ip) => inbound.trunkAt(ip) !== undefined,
    cancel: (req, tx) => bridge.cancel(req, tx),
    inDialog: (req, tx, flow) => bridge.inDialog(req, tx, flow),
  };
  sip.proxy.divert = (req, server, flow, call, reason) => voicemail.divert(req, server, flow, call, reason);
  sip.proxy.ringSecondsFor = (n) => (voicemail.hasMailbox(n) ? voicemail.store.mailbox(n).noAnswerSeconds : null);
  const resync = new Resync(sip.stack, sip.location, devices, extensions, vendors, files, config, log.child({ component: 'resync' }), (t) => advertised(config(), t));
  provisioning.onLegacyFetch = (d) => resync.followUp(d);
  // A mailbox switched on or off changes its phones' files (voicemail number, MWI).
  voicemail.store.onSettingsChange((n) => {
    files.invalidateAll();
    resync.scheduleAuto(`mailbox ${n} switched ${voicemail.hasMailbox(n) ? 'on' : 'off'}`);
  });
  let sipStarted = false;
  extensions.onChange((n) => resync.scheduleAuto(`extension ${n} changed`));
  devices.onChange((mac) => resync.scheduleAuto(`device ${mac} changed`));
  const dataListeners: ((what: DataChange) => void)[] = [];
  const dataChanged = (what: DataChange) => {
    for (const l of dataListeners) l(what);
  };
  extensions.onChange(() => dataChanged('extensions'));
  devices.onChange(() => dataChanged('devices'));
  templates.onSaved(() => dataChanged('templates'));
  voicemail.store.onSettingsChange(() => dataChanged('mailboxes'));

  live.onChange(async (change) => {
    log.info({ changed: change.changed, reason: change.reason }, `Configuration reloaded (${change.reason}): ${change.changed.join(', ')}`);
    if (change.changed.some((p) => p.startsWith('provisioning.custom_templates_dir'))) templates.reset();
    files.invalidateAll();
    resync.scheduleAuto('configuration changed');
    // The provider must learn our new address (Contact) and the port it reaches.
    if (sipStarted && change.changed.some((p) => p === 'server.external_ip' || p === 'server.sip_port')) trunks.reregisterAll(`server address changed (${change.reason})`);
    if (sipStarted && change.changed.some((p) => /^server\.sip_|^api\.ssl/.test(p))) {
      // New SIP listeners open beside the old ones: phones registered on the old port
      // keep working (and keep their calls) until they learn the new one.
      await sip.stack.listen(sipListeners(change.next).filter((spec) => !sip.stack.transports.isListening(spec)));
    }
  });

  let external: ExternalChanges | undefined;
  if (opts.serve) {
    await seedConfiguredDevices(config(), devices, log);
    // A ban made here holds on the other nodes, and theirs here.
    const sharedGuards: Record<string, SharedGuard> = {
      sip: { onOwnBan: (announce) => (sip.guard.onBan = announce), hold: (ip, until) => sip.guard.applyBan(ip, until) },
      provisioning: {
        onOwnBan: (announce) => (guard.onBan = (ip, until, local) => local && announce(ip, until)),
        hold: (ip, until) => guard.applyBan(ip, until),
      },
    };
    announceBans(database, sharedGuards, log);
    external = new ExternalChanges(database, async (changes) => {
      // Another node's registrations (it registered or lost a phone): those reachable bindings again.
      if (changes.has('registrations')) await sip.location.loadOtherNodes(changes.keys('registrations'));
      if (changes.has(BANS)) holdOtherNodesBans(changes.keys(BANS), sharedGuards, log);
      if (changes.onlyAmong(['registrations', BANS])) return;
      // Land our own pending writes first, so the reload does not bring back older values.
      await writeBehind.flush();
      // Each extension and device that changed signals it, as a change made here does: its
      // phones' files are dropped and the admin's views told. Nothing else is dropped: a
      // boot storm's thousands of rendered files survive another node's edit of one phone.
      const changed = (await extensions.load()).length + (await devices.load()).length;
      await trunkStore.load();
      log.info({ changed }, 'Reloaded extensions, devices and trunks changed by another process');
      // Phones registered here whose file changed (the CLI or another node edited their
      // extension or device) are told to fetch it, as for a change made here.
      if (changed > 0) resync.scheduleAuto('changed by another process');
    }, { onError: (err) => log.error({ err }, `Reloading changes made by another process failed: ${err.message}`) });
    // Only when asked for: a site's 100,000 devices would sort and derive their URLs for nothing.
    if (log.isLevelEnabled('debug')) {
      for (const d of devices.list()) log.debug({ mac: d.mac, config_url: files.configUrl(d) }, `Device ${d.mac} config_url`);
    }
  }

  return {
    configFile: loaded.file,
    config,
    live,
    log,
    database,
    extensions,
    devices,
    vendors,
    templates,
    files,
    fileWarmer,
    provisioning,
    provisioningAuth,
    requestLog,
    tokens,
    admins,
    firstAdminSetup,
    resync,
    guard,
    securityLog,
    writeBehind,
    sip,
    voicemail,
    trunks,
    checks: {
      config,
      devices: () => devices.list(),
      syncStates: (list) => resync.states(list),
      extensions: () => extensions.list(),
      configFile: loaded.file,
      configUrl: (d) => files.configUrl(d),
      trunks: () => trunkStore.list(),
      trunkTarget: async (name) => {
        const t = trunkStore.get(name);
        return t ? ((await trunkTargets(t))[0] ?? null) : null;
      },
      oneWayCalls: async () => {
        const rows = await sip.calls.cdr({ since: new Date(Date.now() - 86_400_000).toISOString(), limit: 1000 });
        const anchored = rows.filter((r) => r.direction === 'inbound' || r.direction === 'outbound');
        return { caller: rows.filter((r) => r.media_one_way === 'caller').length, callee: rows.filter((r) => r.media_one_way === 'callee').length, total: anchored.length };
      },
    },
    startedAt: new Date(),
    onDataChange: (listener) => void dataListeners.push(listener),
    async startSip() {
      if (log.isLevelEnabled('trace')) {
        const wireLog = log.child({ component: 'sip-wire' });
        sip.stack.transports.trace = (direction, flow, data) =>
          wireLog.trace(
            { direction, transport: flow.transport, peer: `${flow.remoteAddress}:${flow.remotePort}` },
            // Digest responses can be attacked offline: keep them out of logs.
            data.toString('latin1').replace(/\bresponse="[^"]*"/gi, 'response="[redacted]"'),
          );
      }
      // Once a minute per source: a misconfigured phone retries every few seconds.
      const noticed = new Map<string, number>();
      sip.stack.transports.onNotice = (message, flow) => {
        const now = Date.now();
        if ((noticed.get(flow.remoteAddress) ?? 0) > now - 60_000) return;
        if (noticed.size > 10_000) noticed.clear();
        noticed.set(flow.remoteAddress, now);
        const tls = config().server.sip_tls_port;
        log.warn({ peer: `${flow.remoteAddress}:${flow.remotePort}`, transport: flow.transport }, `${message} from ${flow.remoteAddress}${tls ? `; SIP over TLS is on port ${tls}` : '; SIP over TLS is off (server.sip_tls_port)'}`);
      };
      sip.stack.transports.onError = (err, flow) =>
        log.error({ err, peer: `${flow.remoteAddress}:${flow.remotePort}`, transport: flow.transport }, 'Error while handling a SIP message; it was dropped');
      await sip.stack.listen(sipListeners(config()));
      sip.location.startExpiry();
      sip.keepalive.start();
      await trunkSources.start();
      if (config().media.engine === 'rtpengine') {
        await ng.request('ping').then(
          () => log.info(`Media relay: rtpengine at ${config().media.rtpengine_ng} answers`),
          (err: Error) => log.error(`Media relay: ${err.message}; trunk calls fail (503) until it answers (media.rtpengine_ng, is rtpengine-daemon running?)`),
        );
      }
      trunks.start();
      sipStarted = true;
      for (const b of sip.stack.transports.bound) log.info(`SIP listening on ${b.transport.toUpperCase()} ${b.address}:${b.port}`);
    },
    async close() {
      live.stop();
      publicAddress.stop();
      resync.stop();
      fileWarmer.stop();
      external?.stop();
      sip.location.stop();
      sip.keepalive.stop();
      sip.proxy.stop();
      voicemail.stop();
      bridge.close();
      trunkSources.stop();
      ng.close();
      await trunks.stop();
      sip.agent.close();
      await sip.media.close();
      await sip.stack.close();
      await writeBehind.flush();
      await files.threads?.close();
      await securityLog.close();
      await database.close();
    },
  };
}

/**
 * `pbx serve`: builds the application, opens the HTTP, SIP and TFTP listeners and wires
 * live configuration changes to them. Null when a port cannot be opened (already logged,
 * everything closed again).
 */
export async function startServer(loaded: LoadedConfig, log: Logger, life: Logger): Promise<{ pbx: Pbx; stop(): Promise<void> } | null> {
  const config = loaded.config;
  const pbx = await createPbx(loaded, log, { serve: true });
  life.info(`Database: ${pbx.database.describe}`);
  const workers = config.api.workers > 0 ? httpWorkers(pbx, log) : undefined;
  const http = await buildHttp(pbx, workers ? { beforeAuth: workers.beforeAuth, afterWrite: () => workers.processes.settled(), beforeRead: () => workers.processes.caughtUp() } : {});
  const listeners = new HttpListeners(http, pbx.database.db, log);
  if (workers) listeners.sharing = workers.processes;
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
    return null;
  }
  if (workers) {
    try {
      await listeners.openInternal(workers.socket);
      await workers.processes.start();
    } catch (err) {
      log.fatal(`HTTP workers could not start (api.workers): ${(err as Error).message}`);
      await workers.processes.close();
      await listeners.close();
      await pbx.close();
      return null;
    }
  }
  try {
    await pbx.startSip();
  } catch (err) {
    log.fatal(portProblem(err, 'SIP', config.server.sip_port, config.server.sip_host, 'server.sip_port'));
    await workers?.processes.close();
    await listeners.close();
    await pbx.close();
    return null;
  }
  // TFTP for phones pointed at a bare address (provisioning.tftp_port; 0 = off).
  const tftp = new ProvisioningTftp({ config: pbx.config, provisioning: pbx.provisioning, guard: pbx.guard, log: log.child({ component: 'tftp' }), lifecycle: life });
  const tftpProblem = (err: unknown, next: typeof config) =>
    portProblem(err, 'TFTP', next.provisioning.tftp_port, tftpAddress(next)?.host ?? '', 'provisioning.tftp_port');
  try {
    await tftp.apply(config);
  } catch (err) {
    log.fatal(tftpProblem(err, config));
    await workers?.processes.close();
    await listeners.close();
    await pbx.close();
    return null;
  }
  const stopOverflowWatch = watchListenOverflows({ backlog: config.api.backlog, log: log.child({ component: 'http' }), counters: http.load });
  life.info(`API port: ${config.api.port} (${config.api.ssl.enabled ? 'https' : 'http'}://${config.api.host}:${config.api.port})`);
  life.info(`Provisioning URL format: ${config.provisioning.url_format} → ${deriveConfigUrl(config, 'aabbccddeeff', 'lower')}`);
  // Worker processes serve phones' files from their own copies, and prepare those.
  if (!workers) pbx.fileWarmer.start();
  const setupFile = await pbx.firstAdminSetup.prepare();
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


  return {
    pbx,
    async stop() {
      stopOverflowWatch();
      await workers?.processes.close();
      await listeners.close();
      await tftp.close();
      await http.close();
      await pbx.close();
    },
  };
}

/**
 * HTTP worker processes (api.workers): phones' downloads served beside this process. They
 * learn every change before the request that made it is answered (data, config, bans,
 * window state), send back what their requests set off, and hand digest nonces over.
 */
function httpWorkers(pbx: Pbx, log: Logger) {
  const config = pbx.config();
  // Beside the key file: only the server's user may reach it (mode 0600).
  const socket = join(dirname(config.security.key_file), 'http-internal.sock');
  const noMailbox = () => pbx.extensions.list().flatMap((e) => (pbx.voicemail.store.mailbox(e.number).enabled ? [] : [e.number]));
  const processes: HttpWorkers = new HttpWorkers({
    entry: fileURLToPath(new URL('./cli/http-worker.js', import.meta.url)),
    count: config.api.workers,
    init: (worker) => ({ t: 'init', worker, config: pbx.config(), primarySocket: socket, noMailbox: noMailbox() }),
    onNotes: (notes) => {
      for (const n of notes) pbx.provisioning.applyEffects(fromNote(n, (id) => pbx.vendors.get(id), (mac) => pbx.devices.get(mac)));
    },
    claimLocal: (nonce) => pbx.provisioningAuth.claim(nonce),
    log: log.child({ component: 'http' }),
  });
  // Changes within one turn of the event loop go out together.
  let pending = new Set<DataChange>();
  pbx.onDataChange((what) => {
    if (pending.size === 0) {
      queueMicrotask(() => {
        const changed = pending;
        pending = new Set();
        if (changed.has('mailboxes')) processes.broadcast({ t: 'mailboxes', off: noMailbox() });
        changed.delete('mailboxes');
        // Workers reload from the database: our own pending writes (a device's window closed
        // by a fetch) land first, or the reload would bring back older values.
        if (changed.size > 0) processes.broadcast({ t: 'changed', tables: [...changed] }, pbx.writeBehind.flush());
      });
    }
    pending.add(what);
  });
  pbx.live.onChange(() => processes.broadcast({ t: 'config', config: pbx.config() }));
  const toOtherNodes = pbx.guard.onBan;
  pbx.guard.onBan = (ip, until, local) => {
    toOtherNodes?.(ip, until, local);
    processes.broadcast({ t: 'ban', ip, until });
  };
  // In a boot storm thousands of phones close their windows: one message per turn of the loop.
  let states: [string, DeviceAuthState][] = [];
  pbx.devices.onAuthState = (mac, state) => {
    if (states.length === 0) {
      queueMicrotask(() => {
        processes.broadcast({ t: 'auth-states', states });
        states = [];
      });
    }
    states.push([mac, state]);
  };
  // The broadcasts a request set off go out at the end of this turn (microtasks): wait after them.
  pbx.provisioning.afterMiss = () => new Promise((resolve) => setImmediate(() => void processes.settled().then(resolve)));
  const beforeAuth = (authorization: string | undefined) => pbx.provisioningAuth.claimForeign(authorization, (issuer, nonce) => processes.claimFrom(issuer, nonce));
  return { processes, socket, beforeAuth };
}

/** Devices listed in config.yml are created (or brought in line) at start. */
async function seedConfiguredDevices(config: PbxConfig, devices: DeviceService, log: Logger): Promise<void> {
  for (const entry of config.provisioning.devices) {
    try {
      const mac = DeviceService.parseMac(entry.mac, 'provisioning.devices.mac');
      const existing = devices.get(mac);
      const input = { vendor: entry.vendor, model: entry.model, extension_number: entry.extension, ...(entry.listener ? { listener: entry.listener } : {}) };
      if (!existing) await devices.create({ mac_address: mac, ...input });
      else if (
        existing.vendor !== entry.vendor ||
        existing.model.toUpperCase() !== entry.model.toUpperCase() ||
        existing.lines[0] !== entry.extension ||
        (entry.listener !== undefined && existing.listener !== entry.listener)
      ) {
        await devices.update(mac, input);
      }
    } catch (err) {
      if (!(err instanceof PbxError)) throw err;
      log.error({ mac: entry.mac }, `provisioning.devices entry ${entry.mac} in config.yml skipped: ${err.message}`);
    }
  }
}

function createSip(
  config: () => PbxConfig,
  extensions: ExtensionService,
  database: OpenedDatabase,
  writeBehind: WriteBehind,
  log: Logger,
  securityLog: SecurityLog,
  decoyKey: Buffer,
): SipParts {
  // Algorithms in use, for challenging unknown users like real ones (recomputed after a change).
  let inUse: { sets: (readonly DigestAlgorithm[])[]; of: PbxConfig } | undefined;
  extensions.onChange(() => (inUse = undefined));
  const algorithmSets = () => {
    const c = config();
    if (!inUse || inUse.of !== c) {
      inUse = { sets: extensions.list().filter((e) => e.enabled).map((e) => e.digestAlgorithms ?? c.sip.digest_algorithms), of: c };
    }
    return inUse.sets;
  };
  const stack = new SipStack();
  const auth = new DigestAuth(
    () => ({ realm: config().sip.realm, nonceTtlSeconds: config().sip.nonce_ttl_seconds, algorithms: config().sip.digest_algorithms }),
    (username) => {
      const ext = extensions.get(username);
      return ext?.enabled ? { secret: ext.secret, algorithms: ext.digestAlgorithms ?? config().sip.digest_algorithms } : undefined;
    },
    { key: decoyKey, sets: algorithmSets },
  );
  const location = new Location(database.db, writeBehind, config().cluster.node_id, database);
  location.onChange((event, b) => {
    if (event === 'expired') log.info({ extension: b.aor, contact: b.contact }, `Registration of extension ${b.aor} at ${b.contact} expired`);
  });
  const isExtension = (n: string) => extensions.get(n)?.enabled === true;
  const guard = new FloodGuard(() => config().sip.guard, securityLog);
  const edges = new EdgeProxies(() => config().cluster.edge_addresses);
  stack.transports.admit = (ip) => edges.has(ip) || guard.admit(ip);
  const onAuthFailure = (ip: string, flow: Flow, username: string | undefined, reason: string) => {
    securityLog.write('auth-failure', { ip, service: 'sip', user: username ?? '-', reason });
    guard.authFailure(ip, username, flow.reliable);
  };
  guard.registrations = { hasBindingFrom: (ip) => location.hasBindingFrom(ip), isRegisteredFrom: (ext, ip) => location.isRegisteredFrom(ext, ip) };
  const guessing = (ext: string, ip: string) => guard.guessing(ext, ip);
  const clientOf = (req: SipRequest, flow: Flow) => edges.clientOf(req, flow);
  const authenticator = { auth, log, onAuthFailure, guessing, clientOf };
  const registrar = new Registrar(
    location,
    authenticator,
    isExtension,
    () => {
      const s = config().sip;
      return {
        minExpires: s.min_expires,
        maxExpires: s.max_expires,
        defaultExpires: s.default_expires,
        maxContacts: s.max_contacts_per_aor,
        supported: ['path', 'outbound', 'gruu'],
      };
    },
    log,
  );
  const calls = new Calls(database.db, writeBehind, log);
  const local = new Set(hostAddresses());
  const isOurs = (host: string, port: number | null) => {
    const c = config();
    const ports = [c.server.sip_port, c.server.sip_tls_port, c.server.sip_ws_port].filter((p) => p > 0);
    const hostOurs = host === c.server.external_ip.toLowerCase() || local.has(host);
    return hostOurs && (port === null || ports.includes(port));
  };
  const proxy = new SipProxy(
    stack,
    location,
    calls,
    () => ({ advertise: (t) => advertised(config(), t), noAnswerSeconds: config().sip.no_answer_seconds }),
    isOurs,
    log,
    new DialogStore(database.db, writeBehind),
  );
  // Media runs on its own thread: nothing on this one (SIP, the API, GC) delays a packet.
  const threads = config().media.threads || Math.min(4, availableParallelism());
  const media = new ThreadedMediaEngine(() => ({ address: config().media.address, min: config().media.rtp_port_min, max: config().media.rtp_port_max }), threads);
  media.onError = (err) => log.error({ err }, 'The media thread failed: its calls were ended; the next call starts a new one');
  const agent = new ServiceAgent(
    stack,
    media,
    () => ({
      advertise: (t) => advertised(config(), t),
      mediaAddress: (peer) => addressToward(peer, config().server.external_ip),
      t1: stack.timers.T1,
      t2: stack.timers.T2,
      mediaTimeoutSeconds: config().media.timeout_seconds,
    }),
    log.child({ component: 'services' }),
  );
  // Services above the SIP layer (voicemail …) register here once they exist.
  const services: ServiceHooks = { serviceFor: () => undefined, subscriptions: null, trunkCalls: null };
  stack.setDelegate(
    new SipService({
      stack,
      registrar,
      proxy,
      calls,
      auth,
      isExtension,
      log,
      userAgent: `pbx/${VERSION}`,
      onAuthFailure,
      guessing,
      guard,
      edges,
      agent,
      serviceFor: (dialled, caller) => services.serviceFor(dialled, caller),
      get subscriptions() {
        return services.subscriptions;
      },
      get trunkCalls() {
        return services.trunkCalls;
      },
    }),
  );
  const keepalive = new NatKeepalive(stack, location, () => ({
    host: config().server.external_ip,
    port: config().server.sip_port,
    intervalSeconds: config().sip.keepalive_seconds,
  }));
  const stats = (): SipStats => ({
    listeners: stack.transports.bound,
    messages: stack.transports.counters,
    transactions: { ...stack.counters, active: stack.activeTransactions },
    registrations: registrar.counters,
    calls: calls.counters,
    guard: guard.counters,
  });
  return { stack, location, registrar, calls, proxy, auth, keepalive, guard, stats, agent, media, services };
}

/**
 * Our address on a transport as phones must reach it: server.external_ip and the port of
 * that transport's listener (Via, Record-Route, Contact all name it, RFC 3261 §18).
 */
function advertised(config: PbxConfig, transport: string): SentBy {
  const s = config.server;
  const t = transport.toLowerCase();
  const port = t === 'tls' ? s.sip_tls_port : t === 'ws' || t === 'wss' ? s.sip_ws_port : s.sip_port;
  return { transport: t, host: s.external_ip, port: port || s.sip_port };
}

function sipListeners(config: PbxConfig): ListenSpec[] {
  const s = config.server;
  const host = s.sip_host;
  const specs: ListenSpec[] = [{ transport: 'udp', host, port: s.sip_port }];
  if (s.sip_tcp) specs.push({ transport: 'tcp', host, port: s.sip_port });
  const tls = () => ({ cert: readFileSync(config.api.ssl.cert_file), key: readFileSync(config.api.ssl.key_file) });
  if (s.sip_tls_port > 0) specs.push({ transport: 'tls', host, port: s.sip_tls_port, tls: tls() });
  if (s.sip_ws_port > 0) {
    const secure = config.api.ssl.enabled;
    specs.push({ transport: secure ? 'wss' : 'ws', host, port: s.sip_ws_port, ...(secure ? { tls: tls() } : {}) });
  }
  return specs;
}
