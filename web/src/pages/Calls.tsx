import type { ActiveCall, Cdr } from '../contract';
import { useState } from 'preact/hooks';
import { api, useLive } from '../api';
import { Badge, Field, Loading, PageTitle, SelectField, TableWrap, Time, useAsync } from '../ui';



const RESULTS = ['answered', 'busy', 'no_answer', 'cancelled', 'unknown_extension', 'unavailable', 'rejected', 'failed'];

export function Calls() {
  const active = useAsync(() => api<{ calls: ActiveCall[] }>('GET', '/api/calls'), []);
  const [extension, setExtension] = useState('');
  const [result, setResult] = useState('');
  const [since, setSince] = useState('');
  const query = new URLSearchParams({ limit: '200' });
  if (/^\d+$/.test(extension.trim())) query.set('extension', extension.trim());
  if (result) query.set('result', result);
  if (since) query.set('since', new Date(`${since}T00:00:00`).toISOString());
  const qs = query.toString();
  const cdr = useAsync(() => api<{ cdr: Cdr[] }>('GET', `/api/cdr?${qs}`), [qs]);
  useLive(['calls'], active.reload);
  useLive(['activity'], () => (active.reload(), cdr.reload()));

  return (
    <>
      <PageTitle title="Calls" />
      <section class="card" aria-labelledby="active-heading">
        <h2 id="active-heading">Active calls</h2>
        <Loading state={active} />
        {active.data && active.data.calls.length === 0 ? <p class="muted">No call right now.</p> : null}
        {active.data && active.data.calls.length > 0 ? (
          <TableWrap label="List of active calls" columns={['From', 'To', 'State', 'Started', 'Answered']}>
              {active.data.calls.map((c) => (
                <tr key={c.call_id}>
                  <td>{c.caller}</td>
                  <td>{c.callee}</td>
                  <td>
                    <Badge tone={c.answered_at ? 'ok' : 'neutral'}>{c.state}</Badge>
                  </td>
                  <td>
                    <Time iso={c.started_at} />
                  </td>
                  <td>
                    <Time iso={c.answered_at} />
                  </td>
                </tr>
              ))}
            </TableWrap>
        ) : null}
      </section>

      <section class="card" aria-labelledby="history-heading">
        <h2 id="history-heading">Call history</h2>
        <form class="filters" role="search" aria-label="Filter the call history" onSubmit={(e) => e.preventDefault()}>
          <Field label="Extension" name="extension" value={extension} onValue={setExtension} inputMode="numeric" placeholder="any" />
          <SelectField label="Result" name="result" value={result} onValue={setResult} options={RESULTS.map((r) => ({ value: r, label: r.replace(/_/g, ' ') }))} placeholder="any" />
          <Field label="Since" name="since" type="date" value={since} onValue={setSince} />
        </form>
        <Loading state={cdr} />
        {cdr.data && cdr.data.cdr.length === 0 ? <p class="muted">No calls match.</p> : null}
        {cdr.data && cdr.data.cdr.length > 0 ? (
          <TableWrap stack label="List of past calls" columns={['Started', 'From', 'To', 'Trunk', 'Result', 'Duration', 'Hung up by']}>
              {cdr.data.cdr.map((c) => (
                <tr key={c.id}>
                  <td>
                    <Time iso={c.started_at} />
                  </td>
                  <td>{c.caller}</td>
                  <td>{c.callee}</td>
                  <td>
                    {c.trunk ? `${c.direction === 'inbound' ? 'in' : 'out'} via ${c.trunk}${c.did ? `, dialled ${c.did}` : ''}` : <span class="muted">internal</span>}
                    {c.media_one_way ? (
                      <>
                        {' '}
                        <Badge tone="bad">one-way audio</Badge>
                      </>
                    ) : null}
                  </td>
                  <td>
                    <Badge tone={c.result === 'answered' ? 'ok' : 'warn'}>{c.result.replace(/_/g, ' ')}</Badge> {c.status}
                  </td>
                  <td>{duration(c.duration_seconds)}</td>
                  <td>{c.hangup_side ?? '—'}</td>
                </tr>
              ))}
            </TableWrap>
        ) : null}
      </section>
    </>
  );
}

function duration(s: number): string {
  const m = Math.floor(s / 60);
  return m ? `${m} min ${s % 60} s` : `${s} s`;
}
