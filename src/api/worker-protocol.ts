// The messages between the primary process and its HTTP worker processes (over the
// IPC channel node:child_process gives a forked child). The primary owns every write
// (database, request log, guard, security log); workers serve phones' GETs from their
// own memory copy and tell the primary what each request set off.
import type { PbxConfig } from '../config/schema.js';
import type { DeviceAuthState } from '../provisioning/devices.js';
import type { FetchNote } from '../provisioning/fetch-outcomes.js';
import type { IssuedNonce } from '../provisioning/http-auth.js';

/** A listening socket the primary shares: its connections are accepted by every process. */
export interface SharedListener {
  id: number;
  port: number;
  scheme: 'http' | 'https';
  provisioningOnly: boolean;
  old: boolean;
  /** For https: the certificate and key files it was opened with. */
  tls?: { cert_file: string; key_file: string };
}

export type ToWorker =
  /** noMailbox: the extensions whose mailbox is switched off (the others have one when enabled). */
  | { t: 'init'; worker: number; config: PbxConfig; primarySocket: string; noMailbox: string[] }
  /** Answered with an ack of its seq once applied. */
  | { t: 'config'; seq: number; config: PbxConfig }
  | { t: 'changed'; seq: number; tables: string[] }
  | { t: 'mailboxes'; seq: number; off: string[] }
  | { t: 'ban'; seq: number; ip: string; until: number }
  /** Send the notes of requests served so far (acknowledged after them: the admin reads what phones did). */
  | { t: 'flush'; seq: number }
  | { t: 'auth-states'; seq: number; states: [mac: string, state: DeviceAuthState][] }
  /** Sent with the listening socket as its handle (or alone, to change a shared one's flags). */
  | { t: 'listen'; listener: SharedListener }
  | { t: 'unlisten'; id: number }
  /** Give up a nonce this worker issued (another process got the answer). */
  | { t: 'claim'; rid: number; nonce: string }
  | { t: 'claimed'; rid: number; issued: IssuedNonce | null }
  | { t: 'noted'; rid: number }
  | { t: 'stop' };

export type ToPrimary =
  | { t: 'ready' }
  | { t: 'ack'; seq: number }
  /** Side effects of requests served; with rid, answered once applied and known everywhere. */
  | { t: 'notes'; notes: FetchNote[]; rid?: number }
  | { t: 'claim'; rid: number; issuer: string; nonce: string }
  | { t: 'claimed'; rid: number; issued: IssuedNonce | null };

/** The issuer name of worker n in its nonces (the primary's is 'p'). */
export const workerIssuer = (n: number): string => `w${n}`;
