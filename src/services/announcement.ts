// A recorded announcement ("we are closed", "this number is not in service"): the pbx
// answers, plays it once, and hangs up. The sound is a prompt: <name>.wav in
// voicemail.prompts_dir, else a built-in one of that name.
import type { Logger } from 'pino';
import { makeResponse, type SipRequest } from '../sip/message.js';
import type { ServerTransaction } from '../sip/transactions/server.js';
import type { Flow } from '../sip/transport.js';
import type { Call, Calls } from '../pbx/calls.js';
import type { ServiceAgent } from '../pbx/service-agent.js';
import { recorded } from '../pbx/sip-service.js';

export interface AnnouncementDeps {
  agent: ServiceAgent;
  calls: Calls;
  /** The samples of a prompt; throws when it has no file. */
  sound: (name: string) => Int16Array;
  log: Logger;
}

/** Answers `req` with announcement `name`; a name with no sound gets 404 and an error line. */
export function announce(d: AnnouncementDeps, req: SipRequest, server: ServerTransaction, flow: Flow, call: Call, name: string): void {
  let samples: Int16Array;
  try {
    samples = d.sound(name);
  } catch {
    d.log.error({ call_id: req.callId, announcement: name }, `Announcement ${name} has no sound: put ${name}.wav (8 kHz, 16-bit, mono) in voicemail.prompts_dir`);
    server.respond(makeResponse(req, 404, 'Not Found'));
    d.calls.end(call, 'failed', 404, null);
    return;
  }
  d.agent.answer(
    req,
    server,
    flow,
    { callId: req.callId, caller: call.caller, callerName: req.from.display ?? null, dialled: call.did ?? call.callee, sourceAddress: flow.remoteAddress },
    recorded(d.calls, call, async (session) => {
      await session.play(samples);
    }),
    (status) => d.calls.end(call, status === 487 ? 'cancelled' : 'failed', status, null),
  );
}
