import Type from 'typebox';
import { statSync, createReadStream } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Pbx } from '../../application.js';
import { PbxError } from '../../pbx/errors.js';
import type { Message, MailboxSettings } from '../../services/voicemail/store.js';

/** The services these routes use (and nothing else of the application). */
export type VoicemailRouteDeps = Pick<Pbx, 'voicemail' | 'extensions' | 'log'>;

const Mailbox = Type.Object({ mailbox: Type.String() });
const Id = Type.Object({ id: Type.String({ pattern: '^m-[0-9a-z-]+$' }) });
const SettingsBody = Type.Object(
  {
    enabled: Type.Optional(Type.Boolean()),
    pin: Type.Optional(Type.String({ pattern: '^[0-9]{4,12}$' })),
    email: Type.Optional(Type.Union([Type.String({ format: 'email', maxLength: 254 }), Type.Null()])),
    attach_audio: Type.Optional(Type.Boolean()),
    delete_after_email: Type.Optional(Type.Boolean()),
    max_messages: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 10_000 }), Type.Null()])),
    no_answer_seconds: Type.Optional(Type.Union([Type.Integer({ minimum: 5, maximum: 600 }), Type.Null()])),
  },
  { additionalProperties: false },
);

function messageView(m: Message) {
  return {
    id: m.id,
    mailbox: m.mailbox,
    caller: m.caller,
    caller_name: m.callerName,
    created_at: m.createdAt,
    duration_seconds: Math.round(m.durationMs / 100) / 10,
    folder: m.folder,
    emailed_at: m.emailedAt,
  };
}

function settingsView(s: MailboxSettings, counts: { new: number; saved: number }) {
  return {
    mailbox: s.number,
    enabled: s.enabled,
    pin_set: s.hasPin,
    email: s.email,
    attach_audio: s.attachAudio,
    delete_after_email: s.deleteAfterEmail,
    max_messages: s.maxMessages,
    no_answer_seconds: s.noAnswerSeconds,
    new_messages: counts.new,
    saved_messages: counts.saved,
  };
}

export function voicemailRoutes(pbx: VoicemailRouteDeps) {
  return async (fastify: FastifyInstance) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
    const tags = ['voicemail'];
    // Greetings arrive as WAV bodies (audio/wav, or any binary type).
    app.addContentTypeParser(['audio/wav', 'audio/x-wav', 'audio/wave', 'application/octet-stream'], { parseAs: 'buffer', bodyLimit: 16_777_216 }, (_req, body, done) => done(null, body));
    const store = pbx.voicemail.store;
    const mailboxOf = (number: string) => pbx.extensions.require(number).number;

    app.get('/voicemail/:mailbox', { schema: { tags, summary: "A mailbox's settings and message counts", params: Mailbox } }, async (req) => {
      const n = mailboxOf(req.params.mailbox);
      return settingsView(store.mailbox(n), await store.counts(n));
    });

    app.put('/voicemail/:mailbox', { schema: { tags, summary: "Change a mailbox's settings (PIN stored hashed)", params: Mailbox, body: SettingsBody } }, async (req) => {
      const n = mailboxOf(req.params.mailbox);
      const b = req.body;
      const s = await store.updateMailbox(n, {
        enabled: b.enabled,
        pin: b.pin,
        email: b.email,
        attachAudio: b.attach_audio,
        deleteAfterEmail: b.delete_after_email,
        maxMessages: b.max_messages,
        noAnswerSeconds: b.no_answer_seconds,
      });
      pbx.log.info({ mailbox: n, pin_changed: b.pin !== undefined }, `Mailbox ${n} updated`);
      return settingsView(s, await store.counts(n));
    });

    const GreetingParams = Type.Object({ mailbox: Type.String(), which: Type.Union([Type.Literal('unavailable'), Type.Literal('busy'), Type.Literal('name')]) });
    app.put(
      '/voicemail/:mailbox/greetings/:which',
      { schema: { tags, summary: 'Upload a greeting (unavailable, busy) or the name: WAV, 8 kHz 16-bit mono', params: GreetingParams }, bodyLimit: 16_777_216 },
      async (req) => {
        const n = mailboxOf(req.params.mailbox);
        const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        const samples = store.saveGreeting(n, req.params.which, body);
        pbx.log.info({ mailbox: n, greeting: req.params.which, seconds: samples / 8000 }, `Mailbox ${n}: ${req.params.which} greeting uploaded`);
        return { mailbox: n, greeting: req.params.which, seconds: Math.round(samples / 800) / 10 };
      },
    );
    app.delete('/voicemail/:mailbox/greetings/:which', { schema: { tags, summary: 'Remove a greeting (callers hear the default again)', params: GreetingParams } }, async (req, reply) => {
      const n = mailboxOf(req.params.mailbox);
      if (!store.removeGreeting(n, req.params.which)) throw new PbxError('not_found', `Mailbox ${n} has no ${req.params.which} greeting`, 'which');
      return reply.code(204).send();
    });

    app.get('/voicemail/:mailbox/messages', { schema: { tags, summary: 'Messages of a mailbox, new first', params: Mailbox } }, async (req) => {
      const n = mailboxOf(req.params.mailbox);
      const all = await store.list(n);
      return { messages: [...all.filter((m) => m.folder === 'new'), ...all.filter((m) => m.folder === 'saved')].map(messageView) };
    });

    app.get('/voicemail/messages/:id/audio', { schema: { tags, summary: 'The message as WAV (HTTP Range supported)', params: Id } }, async (req, reply) => {
      const m = await store.get(req.params.id);
      if (!m) throw new PbxError('not_found', `No voicemail message ${req.params.id}`, 'id');
      const path = store.path(m);
      const size = statSync(path).size;
      reply.header('Accept-Ranges', 'bytes').header('Content-Disposition', `inline; filename="${m.mailbox}-${m.id}.wav"`).type('audio/wav');
      const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
      if (range && (range[1] || range[2])) {
        const start = range[1] ? Number(range[1]) : Math.max(0, size - Number(range[2]));
        const end = range[1] && range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
        if (start >= size || start > end) return reply.code(416).header('Content-Range', `bytes */${size}`).send();
        reply.code(206).header('Content-Range', `bytes ${start}-${end}/${size}`).header('Content-Length', end - start + 1);
        return reply.send(createReadStream(path, { start, end }));
      }
      reply.header('Content-Length', size);
      return reply.send(createReadStream(path));
    });

    app.post('/voicemail/messages/:id/heard', { schema: { tags, summary: 'Mark a message heard (moves it to saved)', params: Id } }, async (req) =>
      messageView(await store.move(req.params.id, 'saved')),
    );

    app.delete('/voicemail/messages/:id', { schema: { tags, summary: 'Delete a message', params: Id } }, async (req, reply) => {
      const m = await store.delete(req.params.id);
      pbx.log.info({ mailbox: m.mailbox, id: m.id }, `Voicemail message ${m.id} of ${m.mailbox} deleted`);
      return reply.code(204).send();
    });
  };
}
