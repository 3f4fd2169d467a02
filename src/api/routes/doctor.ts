// GET /api/doctor: the checks of `pbx doctor` that need no network probe.
import type { FastifyInstance } from 'fastify';
import type { Finding } from '../../diagnostics/checks.js';

export function doctorRoutes(d: { findings: () => Promise<Finding[]> }) {
  return async (app: FastifyInstance) => {
    app.get('/doctor', { schema: { tags: ['status'], summary: 'The checks of `pbx doctor` that need no network probe' } }, async () => {
      const findings = await d.findings();
      return { ok: findings.every((f) => f.ok), findings };
    });
  };
}
