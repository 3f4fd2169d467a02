// What the application is made of, as the faces (API, CLI, web) see it: the services
// app.ts builds and wires. Types only, so a face can name the slice it uses
// (`Pick<Pbx, 'extensions' | 'log'>`) without importing the composition root.
import type { Trunks } from './pbx/trunks/index.js';
import type { ServiceAgent, ServiceApp } from './pbx/service-agent.js';
import type { SubscriptionHandler, TrunkCallHandler } from './pbx/sip-service.js';
import type { MediaEngine } from './media/engine.js';
import type { Voicemail } from './services/voicemail/index.js';
import type { LiveConfig } from './config/live.js';
import type { PbxConfig } from './config/schema.js';
import type { Logger } from './log.js';
import type { ExtensionService } from './pbx/extensions.js';
import type { OpenedDatabase } from './storage/database.js';
import type { WriteBehind } from './storage/write-behind.js';
import type { DeviceService } from './provisioning/devices.js';
import type { PhoneFiles } from './provisioning/phone-files.js';
import type { FileWarmer } from './provisioning/file-warmer.js';
import type { RequestLog } from './provisioning/request-log.js';
import type { ProvisioningService } from './provisioning/service.js';
import type { TemplateCatalog } from './provisioning/templates.js';
import type { VendorRegistry } from './provisioning/vendors/index.js';
import type { TokenStore } from './accounts/tokens.js';
import type { AdminStore } from './accounts/admins.js';
import type { FirstAdminSetup } from './accounts/first-admin.js';
import type { SipStack } from './sip/stack.js';
import type { DigestAuth } from './pbx/digest-auth.js';
import type { Location } from './pbx/location.js';
import type { Registrar } from './pbx/registrar.js';
import type { Calls } from './pbx/calls.js';
import type { SipProxy } from './pbx/proxy.js';
import type { NatKeepalive } from './pbx/keepalive.js';
import type { FloodGuard } from './pbx/flood-guard.js';
import type { Resync } from './provisioning/resync.js';
import type { ProvisioningGuard } from './provisioning/guard.js';
import type { ProvisioningAuth } from './provisioning/http-auth.js';
import type { SecurityLog } from './security/security-log.js';
import type { DoctorSources } from './diagnostics/checks.js';

/** What an HTTP worker process keeps a copy of. */
export type DataChange = 'extensions' | 'devices' | 'templates' | 'mailboxes';

export interface Pbx {
  configFile: string;
  config: () => PbxConfig;
  live: LiveConfig;
  log: Logger;
  database: OpenedDatabase;
  extensions: ExtensionService;
  devices: DeviceService;
  vendors: VendorRegistry;
  templates: TemplateCatalog;
  files: PhoneFiles;
  /** Makes known phones' files in the background (started by a server that serves them). */
  fileWarmer: FileWarmer;
  provisioning: ProvisioningService;
  provisioningAuth: ProvisioningAuth;
  requestLog: RequestLog;
  tokens: TokenStore;
  admins: AdminStore;
  /** Makes the first admin account from the web admin with a one-time token. */
  firstAdminSetup: FirstAdminSetup;
  resync: Resync;
  guard: ProvisioningGuard;
  securityLog: SecurityLog;
  writeBehind: WriteBehind;
  sip: SipParts;
  voicemail: Voicemail;
  trunks: Trunks;
  /** What the doctor's checks read (GET /api/doctor, the dashboard, `pbx doctor`). */
  checks: DoctorSources;
  startedAt: Date;
  /**
   * Told when what phones' files are made from changed (extensions, devices, templates,
   * which extensions have a mailbox), here or by another process: HTTP workers reload it.
   */
  onDataChange(listener: (what: DataChange) => void): void;
  /** Starts the SIP listeners (`pbx serve` only). */
  startSip(): Promise<void>;
  close(): Promise<void>;
}

/** The SIP figures /api/status and /metrics show, read without reaching into the stack. */
export interface SipStats {
  listeners: SipStack['transports']['bound'];
  messages: SipStack['transports']['counters'];
  transactions: SipStack['counters'] & { active: SipStack['activeTransactions'] };
  registrations: Registrar['counters'];
  calls: Calls['counters'];
  guard: FloodGuard['counters'];
}

/** Where the services above the SIP layer plug in (filled in by the composition root). */
export interface ServiceHooks {
  serviceFor: (dialled: string, caller: string) => ServiceApp | undefined;
  subscriptions: SubscriptionHandler | null;
  trunkCalls: TrunkCallHandler | null;
}

export interface SipParts {
  agent: ServiceAgent;
  media: MediaEngine;
  services: ServiceHooks;
  stack: SipStack;
  location: Location;
  registrar: Registrar;
  calls: Calls;
  proxy: SipProxy;
  auth: DigestAuth;
  keepalive: NatKeepalive;
  guard: FloodGuard;
  stats(): SipStats;
}
