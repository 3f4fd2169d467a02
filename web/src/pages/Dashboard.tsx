import type { Dashboard as Dash } from '../contract';
import { api, useLive } from '../api';
import { Link, Loading, Notice, PageTitle, TableWrap, Time, useAsync } from '../ui';
import type { Registration } from './Phones';


const midnight = () => {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  return d.toISOString();
};

export function Dashboard() {
  const dash = useAsync(() => api<Dash>('GET', `/api/dashboard?since=${encodeURIComponent(midnight())}`), []);
  const adoption = useAsync(() => api<{ unknown: unknown[] }>('GET', '/api/provisioning/adoption'), []);
  // The first 20 only (total says how many): a big site has 100,000.
  const regs = useAsync(() => api<{ registrations: Registration[]; total: number }>('GET', '/api/registrations?limit=20'), []);
  // The figures cost a few queries: at most one refresh a second on a busy server.
  useLive(['registrations', 'calls', 'devices', 'extensions', 'config', 'activity'], () => {
    dash.reload();
    adoption.reload();
  }, 1000);
  useLive(['registrations'], regs.reload, 1000);
  const d = dash.data;
  return (
    <>
      <PageTitle title="Dashboard" />
      <Loading state={dash} />
      {d ? (
        <>
          <section aria-labelledby="now-heading">
            <h2 id="now-heading" class="visually-hidden">
              Now
            </h2>
            <ul class="stats">
              <Stat label="Registered phones" value={d.devices_registered} detail={`of ${d.devices} phones · ${d.registrations} registration(s)`} href="/phones" />
              <Stat label="Active calls" value={d.active_calls} detail="right now" href="/calls" />
              <Stat label="Calls today" value={d.calls_today} detail="since midnight" href="/calls" />
              <Stat label="Phones in sync" value={d.sync['in sync'] ?? 0} detail={syncDetail(d.sync)} href="/phones" />
            </ul>
          </section>
          {adoption.data && adoption.data.unknown.length > 0 ? (
            <Notice tone="warn">
              {adoption.data.unknown.length} unknown phone(s) asked for a file. <Link href="/adoption">Assign them in the adoption queue</Link>.
            </Notice>
          ) : null}
          <section aria-labelledby="activity-heading" class="card">
            <h2 id="activity-heading">Provisioning activity, last 24 hours</h2>
            <ActivityChart data={d.activity} />
          </section>
          <section aria-labelledby="regs-heading" class="card">
            <h2 id="regs-heading">Registered phones</h2>
            <Loading state={regs} />
            {regs.data && regs.data.registrations.length === 0 ? <p class="muted">No phone is registered.</p> : null}
            {regs.data && regs.data.registrations.length > 0 ? (
              <TableWrap label="List of registrations" columns={['Extension', 'Phone', 'From', 'Since']}>
                {regs.data.registrations.map((r) => (
                  <tr>
                    <th scope="row">{r.extension}</th>
                    <td class="ua">{r.user_agent ?? '—'}</td>
                    <td>
                      {r.source} ({r.transport})
                    </td>
                    <td>
                      <Time iso={r.registered_at} />
                    </td>
                  </tr>
                ))}
              </TableWrap>
            ) : null}
            {regs.data && regs.data.total > regs.data.registrations.length ? (
              <p class="hint">
                and {(regs.data.total - regs.data.registrations.length).toLocaleString('en')} more: <Link href="/phones">all phones</Link>
              </p>
            ) : null}
          </section>
          <section aria-labelledby="problems-heading" class="card">
            <h2 id="problems-heading">Checks</h2>
            {d.problems.length === 0 ? (
              <p class="ok-text">No problems found: the set-up passes the checks of pbx doctor that the server can run on itself.</p>
            ) : (
              <ul class="problems">
                {d.problems.map((p) => (
                  <li>
                    <strong>{p.message}</strong>
                    {p.fix ? <p class="hint">Fix: {p.fix}</p> : null}
                  </li>
                ))}
              </ul>
            )}
          </section>
        </>
      ) : null}
    </>
  );
}

function syncDetail(sync: Record<string, number>): string {
  const rest = Object.entries(sync).filter(([k]) => k !== 'in sync');
  return rest.length ? rest.map(([k, n]) => `${n} ${k}`).join(' · ') : 'all phones';
}

function Stat({ label, value, detail, href }: { label: string; value: number; detail: string; href: string }) {
  return (
    <li class="stat">
      <Link href={href}>
        <span class="stat-label">{label}</span>
        <span class="stat-value">{value}</span>
        <span class="stat-detail">{detail}</span>
      </Link>
    </li>
  );
}

/** Stacked bars per hour: files delivered and requests refused. */
function ActivityChart({ data }: { data: Dash['activity'] }) {
  const W = 720;
  const H = 160;
  const pad = 24;
  const max = Math.max(1, ...data.map((a) => a.delivered + a.failed));
  const bw = (W - pad) / data.length;
  const total = data.reduce((a, b) => a + b.delivered, 0);
  const failed = data.reduce((a, b) => a + b.failed, 0);
  const summary = `${total} file(s) delivered and ${failed} request(s) refused in the last 24 hours; busiest hour ${max} request(s).`;
  const y = (n: number) => ((H - pad) * n) / max;
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={summary} preserveAspectRatio="none">
        <line x1={pad} y1={H - pad} x2={W} y2={H - pad} class="axis" />
        <text x={0} y={12} class="tick">
          {max}
        </text>
        <text x={0} y={H - pad} class="tick">
          0
        </text>
        {data.map((a, i) => {
          const x = pad + i * bw + 1;
          const hd = y(a.delivered);
          const hf = y(a.failed);
          const hour = new Date(a.hour).getHours();
          return (
            <g>
              <title>{`${String(hour).padStart(2, '0')}:00 · ${a.delivered} delivered, ${a.failed} refused`}</title>
              <rect x={x} y={H - pad - hd} width={bw - 2} height={hd} class="bar-ok" />
              <rect x={x} y={H - pad - hd - hf} width={bw - 2} height={hf} class="bar-bad" />
              {i % 6 === 0 ? (
                <text x={x} y={H - 6} class="tick">
                  {String(hour).padStart(2, '0')}:00
                </text>
              ) : null}
            </g>
          );
        })}
      </svg>
      <figcaption>
        <span class="key ok" aria-hidden="true" /> delivered ({total}) <span class="key bad" aria-hidden="true" /> refused or unknown ({failed})
      </figcaption>
    </figure>
  );
}
