// The messages between the primary process and its SIP worker processes (sip.workers),
// over the IPC channel of a forked child. Workers answer REGISTERs on the SIP UDP port
// they share with the primary; the primary owns every write and everything else SIP.
import type { PbxConfig } from '../../config/schema.js';
import type { Binding, LocationEvent } from '../location.js';

export type BindingChange = [LocationEvent, Binding];

/** What a worker counted since its last report (added into the primary's figures). */
export interface WorkerCounts {
  accepted: number;
  challenged: number;
  refused: number;
  received: number;
  sent: number;
  dropped: number;
  bans: number;
  requestsIn: number;
  requestsRefused: number;
}

export type ToSipWorker =
  /**
   * `token` (base64) opens relay envelopes; `nonceKey` (base64) is the digest key
   * all processes share; `peers`: the relay ports of the processes in rotation, the
   * primary first.
   */
  | { t: 'init'; worker: number; config: PbxConfig; token: string; nonceKey: string; peers: number[] }
  /** Sent with a shared UDP socket as its handle, once the worker has loaded (it reads at once). */
  | { t: 'socket'; host: string; last: boolean }
  | { t: 'peers'; peers: number[] }
  /** Answered with an ack of its seq once applied (an API write waits for every worker's). */
  | { t: 'config'; seq: number; config: PbxConfig }
  | { t: 'changed'; seq: number; tables: string[] }
  | { t: 'bindings'; changes: BindingChange[] }
  | { t: 'ban'; ip: string; until: number }
  /** The worker's batch of bindings is applied here: the REGISTERs that made it are answered now. */
  | { t: 'applied'; batch: number }
  | { t: 'stop' };

export type ToSipPrimary =
  /** Loaded: the sockets may come. */
  | { t: 'loaded' }
  /** Reading the shared sockets; `relay`: the port its relay socket listens on. */
  | { t: 'ready'; relay: number }
  | { t: 'bindings'; changes: BindingChange[]; batch: number }
  | { t: 'counts'; counts: WorkerCounts }
  | { t: 'ack'; seq: number }
  /** A failed authentication: counted toward the source's ban where every process's failures add up. */
  | { t: 'auth-failure'; ip: string; username: string | null; reliable: boolean }
  | { t: 'ban'; ip: string; until: number };
