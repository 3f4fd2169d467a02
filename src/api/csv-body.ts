// Bulk imports take a CSV file as the request body (Content-Type: text/csv).
import type { FastifyInstance, FastifyReply } from 'fastify';

/** A site's whole extension or device list fits (100,000 rows are a few MB). */
export const CSV_BODY_LIMIT = 64 * 1024 * 1024;

/** Lets the routes of this plugin take CSV bodies as text. */
export function acceptCsv(fastify: FastifyInstance): void {
  fastify.addContentTypeParser(['text/csv', 'text/plain'], { parseAs: 'string', bodyLimit: CSV_BODY_LIMIT }, (_req, body, done) => done(null, body));
}

/** The CSV text, or null once a 415 has been sent (the body was not text/csv). */
export function csvText(body: unknown, reply: FastifyReply): string | null {
  if (typeof body === 'string') return body;
  void reply.code(415).send({ error: 'bad_request', message: 'Send the CSV as the body with Content-Type: text/csv' });
  return null;
}
