import type { Trunk } from '../contract';
import { useEffect, useState } from 'preact/hooks';
import { api, isAdmin } from '../api';
import { Badge, Checkbox, ConfirmButton, Field, FormButtons, Loading, PageTitle, SelectField, TableWrap, Time, useAsync, useFormAction } from '../ui';

/** How a trunk is doing, in one word and a tone. */
function stateBadge(t: Trunk) {
  const s = t.status.state;
  const tone = s === 'registered' || (s === 'ip-authenticated' && t.status.health.up !== false) ? 'ok' : s === 'failed' ? 'bad' : s === 'disabled' ? 'neutral' : 'warn';
  return <Badge tone={tone}>{s}</Badge>;
}

export function Trunks() {
  const list = useAsync(() => api<{ trunks: Trunk[] }>('GET', '/api/trunks'), []);
  const [creating, setCreating] = useState(false);
  const admin = isAdmin();
  // Registration and health change by themselves: look again every few seconds.
  useInterval(list.reload, 5000);
  return (
    <>
      <PageTitle title="Trunks">
        {admin && !creating ? (
          <button type="button" onClick={() => setCreating(true)}>
            New trunk
          </button>
        ) : null}
      </PageTitle>
      <p class="muted">Providers (ITSPs) for calls to and from the outside world. The routes below are set in config.yml (dialplan); see docs/TRUNKS.md.</p>
      {creating ? (
        <CreateTrunk
          onCancel={() => setCreating(false)}
          onCreated={() => {
            setCreating(false);
            list.reload();
          }}
        />
      ) : null}
      <Loading state={list} />
      {list.data ? (
        <TableWrap stack label="Trunks" columns={['Name', 'Provider', 'State', 'Registered until', 'Provider answers', 'Last error', admin && 'Actions']}>
          {list.data.trunks.length === 0 ? (
            <tr>
              <td colSpan={7} class="muted">
                No trunks yet.
              </td>
            </tr>
          ) : null}
          {list.data.trunks.map((t) => (
            <tr key={t.name} data-trunk={t.name}>
              <th scope="row">{t.name}</th>
              <td>
                {t.transport.toUpperCase()} {t.host}
                {t.port ? `:${t.port}` : ''} {t.register ? <span class="muted">as {t.username}</span> : <span class="muted">IP-authenticated</span>}
              </td>
              <td>{stateBadge(t)}</td>
              <td>
                <Time iso={t.status.registered_until} />
              </td>
              <td>{t.status.health.up === null ? <span class="muted">not checked</span> : t.status.health.up ? `yes, ${Math.round(t.status.health.rtt_ms ?? 0)} ms` : <Badge tone="bad">no</Badge>}</td>
              <td>{t.status.last_error ?? <span class="muted">—</span>}</td>
              {admin ? (
                <td class="row-actions">
                  <button type="button" class="secondary small" onClick={() => void api('PUT', `/api/trunks/${t.name}`, { enabled: !t.enabled }).then(list.reload)}>
                    {t.enabled ? 'Disable' : 'Enable'} <span class="visually-hidden">trunk {t.name}</span>
                  </button>{' '}
                  <ConfirmButton label="Delete" confirm={`Delete trunk ${t.name}? Calls routed to it fail over to the route's next trunk.`} tone="danger" onConfirm={() => api('DELETE', `/api/trunks/${t.name}`).then(list.reload)} />
                </td>
              ) : null}
            </tr>
          ))}
        </TableWrap>
      ) : null}
      <Routes />
    </>
  );
}

interface RouteList {
  outbound: { name: string; patterns: string[]; trunks: { name: string; known: boolean }[]; caller_id: string | null }[];
  inbound: { did: string; trunk: string | null; destination: string }[];
  inbound_default: string;
  emergency_numbers: string[];
}

function Routes() {
  const routes = useAsync(() => api<RouteList>('GET', '/api/routes'), []);
  const r = routes.data;
  return (
    <section class="card" aria-labelledby="routes-heading">
      <h2 id="routes-heading">Routes</h2>
      <Loading state={routes} />
      {r ? (
        <>
          <h3>Outbound</h3>
          {r.outbound.length === 0 ? <p class="muted">None: only extensions and services can be called. Emergency numbers ({r.emergency_numbers.join(', ')}) still go out through every trunk.</p> : null}
          {r.outbound.length > 0 ? (
            <TableWrap label="Outbound routes" columns={['Route', 'Patterns', 'Trunks, in turn', 'Caller ID']}>
              {r.outbound.map((o) => (
                <tr key={o.name}>
                  <th scope="row">{o.name}</th>
                  <td>{o.patterns.join(' ')}</td>
                  <td>
                    {o.trunks.map((t) => (
                      <>
                        {t.known ? t.name : <Badge tone="bad">{t.name}: no such trunk</Badge>}{' '}
                      </>
                    ))}
                  </td>
                  <td>{o.caller_id ?? <span class="muted">the extension's</span>}</td>
                </tr>
              ))}
            </TableWrap>
          ) : null}
          <h3>Inbound</h3>
          {r.inbound.length > 0 ? (
            <TableWrap label="Inbound routes" columns={['Number dialled (DID)', 'From trunk', 'Goes to']}>
              {r.inbound.map((i) => (
                <tr key={`${i.did}-${i.trunk ?? ''}`}>
                  <th scope="row">{i.did}</th>
                  <td>{i.trunk ?? 'any'}</td>
                  <td>{i.destination}</td>
                </tr>
              ))}
            </TableWrap>
          ) : null}
          <p>Any other number dialled: {r.inbound_default === 'reject' ? 'refused (404)' : r.inbound_default}.</p>
        </>
      ) : null}
    </section>
  );
}

function useInterval(fn: () => void, ms: number): void {
  useEffect(() => {
    const id = window.setInterval(fn, ms);
    return () => window.clearInterval(id);
  }, [fn, ms]);
}

function CreateTrunk({ onCancel, onCreated }: { onCancel: () => void; onCreated: () => void }) {
  const [name, setName] = useState('');
  const [host, setHost] = useState('');
  const [port, setPort] = useState('');
  const [transport, setTransport] = useState('udp');
  const [register, setRegister] = useState(true);
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [allowed, setAllowed] = useState('');
  const { busy, errors, onSubmit } = useFormAction(['name', 'host', 'port', 'transport', 'username', 'password', 'allowed_addresses']);
  const submit = onSubmit(async () => {
    await api('POST', '/api/trunks', {
      name,
      host,
      port: port ? Number(port) : null,
      transport,
      register,
      ...(username ? { username } : {}),
      ...(password ? { password } : {}),
      allowed_addresses: allowed
        .split(/[\s,]+/)
        .map((a) => a.trim())
        .filter(Boolean),
    });
    onCreated();
  });
  return (
    <form class="card form" onSubmit={submit} aria-labelledby="new-trunk-heading" noValidate>
      <h2 id="new-trunk-heading">New trunk</h2>
      <div class="grid">
        <Field label="Name" name="name" value={name} onValue={setName} error={errors.fields.name} required autoFocus hint="lower-case letters, digits, - and _" />
        <Field label="Provider host" name="host" value={host} onValue={setHost} error={errors.fields.host} required hint="sip.provider.example or an address" />
        <Field label="Port" name="port" value={port} onValue={setPort} error={errors.fields.port} inputMode="numeric" hint="empty: DNS SRV, else 5060 (5061 with TLS)" />
        <SelectField
          label="Transport"
          name="transport"
          value={transport}
          onValue={setTransport}
          error={errors.fields.transport}
          options={[
            { value: 'udp', label: 'UDP' },
            { value: 'tcp', label: 'TCP' },
            { value: 'tls', label: 'TLS' },
          ]}
        />
        <Checkbox label="Register with the provider (off: the provider knows this server by its address)" name="register" checked={register} onValue={setRegister} />
        <Field label="User name" name="username" value={username} onValue={setUsername} error={errors.fields.username} autocomplete="off" />
        <Field label="Password" name="password" type="password" value={password} onValue={setPassword} error={errors.fields.password} autocomplete="new-password" hint="stored sealed, never shown again" />
        <Field label="Provider addresses" name="allowed_addresses" value={allowed} onValue={setAllowed} error={errors.fields.allowed_addresses} hint="addresses or ranges calls may come from (empty: the host's own addresses)" />
      </div>
      <FormButtons submit="Create trunk" busy={busy} error={errors.form} onCancel={onCancel} />
    </form>
  );
}
