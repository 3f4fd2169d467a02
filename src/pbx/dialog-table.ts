// The proxy's dialogs (RFC 3261 §16 with Record-Route: the proxy stays on the path of
// every in-dialog request). A proxy is no party of the dialog, so it keeps no route set
// or CSeq: only who the two parties are, the flow each was last seen on (NAT), and the
// call it belongs to. Like Kamailio's dialog module: keyed by Call-ID and both tags.
import type { AnchoredMedia } from './media-anchor.js';
import { dialogKey } from '../sip/dialog.js';
import type { Call } from './calls.js';
import type { Peer } from './reach.js';

export interface ProxyDialog {
  callId: string;
  callerTag: string;
  calleeTag: string;
  caller: Peer;
  callee: Peer;
  call: Call | null;
  lastActivity: number;
  /** The relay the call's media goes through (media.anchor); not kept across restarts. */
  media?: AnchoredMedia | null;
}

/** A dialog found for a request, and which side sent it. */
export interface DialogMatch {
  dialog: ProxyDialog;
  fromCaller: boolean;
}

export class DialogTable {
  private readonly dialogs = new Map<string, ProxyDialog>();

  get size(): number {
    return this.dialogs.size;
  }

  /** The dialog of an in-dialog request, whichever party sent it (their From tag is the caller's or the callee's). */
  match(callId: string, fromTag: string, toTag: string): DialogMatch | undefined {
    const forward = this.dialogs.get(dialogKey(callId, fromTag, toTag));
    if (forward) return { dialog: forward, fromCaller: true };
    const backward = this.dialogs.get(dialogKey(callId, toTag, fromTag));
    return backward ? { dialog: backward, fromCaller: false } : undefined;
  }

  /**
   * Records a dialog a response created (early on a 1xx with a To tag, confirmed on the
   * 2xx). On the 2xx the branch that answered owns the dialog, whatever rang before under
   * the same tag.
   */
  remember(d: Omit<ProxyDialog, 'lastActivity'>, confirmed: boolean): void {
    const key = dialogKey(d.callId, d.callerTag, d.calleeTag);
    const existing = this.dialogs.get(key);
    if (!existing) {
      this.dialogs.set(key, { ...d, caller: { ...d.caller }, callee: { ...d.callee }, lastActivity: Date.now() });
      return;
    }
    if (!confirmed) return;
    existing.callee = { ...d.callee };
    if (d.call) existing.call = d.call;
  }

  /** Puts back a dialog kept across a restart. */
  restore(d: ProxyDialog): void {
    this.dialogs.set(dialogKey(d.callId, d.callerTag, d.calleeTag), d);
  }

  forget(d: ProxyDialog): void {
    this.dialogs.delete(dialogKey(d.callId, d.callerTag, d.calleeTag));
  }

  /** Removes and returns the dialogs not used since `cutoff` (a BYE that never came). */
  expire(cutoff: number): ProxyDialog[] {
    const gone: ProxyDialog[] = [];
    for (const [k, d] of this.dialogs) {
      if (d.lastActivity >= cutoff) continue;
      this.dialogs.delete(k);
      gone.push(d);
    }
    return gone;
  }
}
