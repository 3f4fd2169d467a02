// A user agent client's view of one request (RFC 3261 §8.1.3): send it through a client
// transaction and wait for its final response. A timeout or transport error is reported
// as the response the RFC says to treat it as (§8.1.3.1: "treated as if a 408 (Request
// Timeout) status code had been received"; a transport failure as a 503).
import { makeResponse, type SipRequest, type SipResponse } from './message.js';
import type { SipStack } from './stack.js';
import type { Flow } from './transport.js';

export interface FinalResponseOptions {
  /** Each provisional response (180 Ringing, 183 …) as it arrives. */
  provisional?: (response: SipResponse) => void;
}

export function requestFinal(stack: SipStack, request: SipRequest, flow: Flow, o: FinalResponseOptions = {}): Promise<SipResponse> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (response: SipResponse) => {
      if (done) return;
      done = true;
      resolve(response);
    };
    stack.sendRequest(request, flow, {
      response: (response) => {
        if (response.status < 200) o.provisional?.(response);
        else finish(response);
      },
      timeout: () => finish(makeResponse(request, 408, 'Request Timeout')),
      transportError: () => finish(makeResponse(request, 503, 'Service Unavailable')),
    });
  });
}
