import { useState } from 'preact/hooks';
import { api, apiText, isAdmin, useLive } from '../api';
import { navigate } from '../router';
import { Badge, ConfirmButton, CopyButton, Field, FormButtons, FormError, Link, Loading, Notice, PageTitle, SecretPanel, TableWrap, Time, prettyMac, syncTone, toFormErrors, useAsync, useFormAction } from '../ui';
import { ExtensionPicker, freshCredentials, loadRegistrationsOf, useExtensionChoices, type Device, type WithCredential } from './Phones';

interface Preview {
  file: string;
  config_url: string;
  outcome: string;
  detail: string | null;
  content: string | null;
}

interface RequestRow {
  id: number;
  at: string;
  ip: string;
  path: string;
  user_agent: string | null;
  status: number;
  outcome: string;
  detail: string | null;
}

export function Phone({ mac }: { mac: string }) {
  const device = useAsync(() => api<Device>('GET', `/api/provisioning/devices/${encodeURIComponent(mac)}`), [mac]);
  const preview = useAsync(() => api<Preview>('GET', `/api/provisioning/devices/${encodeURIComponent(mac)}/preview`), [mac]);
  const d = device.data;
  const norm = d?.mac_address ?? mac;
  const requests = useAsync(() => api<{ requests: RequestRow[] }>('GET', `/api/provisioning/requests?mac=${encodeURIComponent(norm)}&limit=50`), [norm]);
  // Only this phone's lines' registrations, in one request.
  const lines = device.data?.lines.join(',') ?? '';
  const regs = useAsync(() => loadRegistrationsOf(lines), [lines]);
  useLive(['devices', 'extensions', 'config'], () => (device.reload(), preview.reload()));
  useLive(['activity'], () => (requests.reload(), device.reload()));
  useLive(['registrations'], regs.reload);
  const admin = isAdmin();
  // A provisioning password just made (phone added or adopted) is shown here, once.
  const [fresh, setFresh] = useState(() => {
    const c = freshCredentials.get(mac) ?? null;
    freshCredentials.delete(mac);
    return c;
  });

  if (device.error) {
    const missing = device.error.includes('not found') || device.error.includes('No device');
    return (
      <>
        <PageTitle title={`Phone ${mac}`} />
        <FormError message={missing ? `There is no phone ${mac}.` : device.error} />
        <p>
          <Link href="/phones">Back to the phones</Link>
        </p>
      </>
    );
  }
  const contacts = (regs.data?.registrations ?? []).filter((r) => d?.lines.includes(r.extension));
  return (
    <>
      <PageTitle title={`Phone ${prettyMac(norm)}`}>{d && admin ? <ResyncButtons mac={norm} /> : null}</PageTitle>
      <p class="breadcrumb">
        <Link href="/phones">Phones</Link> › {d?.label ?? prettyMac(norm)}
      </p>
      <Loading state={device} />
      {fresh ? (
        <SecretPanel title="Provisioning login of this phone" rows={[['User', fresh.user], ['Password', fresh.password]]} onDone={() => setFresh(null)}>
          <p>
            The phone proves who it is with this login when it fetches its file (HTTP digest). Its first file sets it on the phone by itself; for a phone you set up by hand, enter it
            as the provisioning server's user and password. The password is shown only now.
          </p>
        </SecretPanel>
      ) : null}
      {d ? (
        <>
          <section class="card" aria-labelledby="details-heading">
            <h2 id="details-heading">Details</h2>
            <dl class="details">
              <dt>Vendor / model</dt>
              <dd>
                {d.vendor} {d.model}
              </dd>
              <dt>Extension</dt>
              <dd>{d.lines.join(', ')}</dd>
              <dt>Label</dt>
              <dd>{d.label ?? '—'}</dd>
              <dt>Sync state</dt>
              <dd>
                <Badge tone={syncTone(d.sync_state)}>{d.sync_state}</Badge>
              </dd>
              <dt>Config URL (live)</dt>
              <dd class="url">
                <code data-config-url>{d.config_url}</code> <CopyButton text={d.config_url} label="Copy URL" />
              </dd>
              <dt>Provisioning server</dt>
              <dd class="url">
                <code>{d.provisioning_server}</code>
              </dd>
              <dt>Last fetch</dt>
              <dd>
                <Time iso={d.last_provisioned} />
                {d.last_ip ? ` from ${d.last_ip}` : ''}
                {d.last_fetch_port ? ` on port ${d.last_fetch_port}` : ''}
              </dd>
            </dl>
            {admin ? <EditPhone device={d} onSaved={() => (device.reload(), preview.reload())} /> : null}
          </section>

          {d.provisioning_username !== undefined ? <ProvisioningLogin device={d} admin={admin} onFresh={setFresh} onChanged={device.reload} /> : null}

          <section class="card" aria-labelledby="regs-heading">
            <h2 id="regs-heading">Registrations</h2>
            {contacts.length === 0 ? (
              <p class="muted">Extension {d.lines.join(', ')} is not registered.</p>
            ) : (
              <TableWrap label="List of registrations" columns={['Extension', 'Contact', 'Source', 'User-Agent', 'Expires in']}>
                  {contacts.map((r) => (
                    <tr>
                      <td>{r.extension}</td>
                      <td class="url">{r.contact}</td>
                      <td>
                        {r.source} ({r.transport})
                      </td>
                      <td>{r.user_agent ?? '—'}</td>
                      <td>{r.expires} s</td>
                    </tr>
                  ))}
                </TableWrap>
            )}
          </section>

          <section class="card" aria-labelledby="preview-heading">
            <h2 id="preview-heading">File it gets now</h2>
            <Loading state={preview} />
            {preview.data ? (
              <>
                <p>
                  <code>{preview.data.file}</code>, as the server would render it this moment (passwords masked).
                </p>
                {preview.data.content !== null ? (
                  <pre class="file" tabIndex={0} aria-label={`Contents of ${preview.data.file}`} data-preview>
                    {preview.data.content}
                  </pre>
                ) : (
                  <FormError message={`This phone would get an error (${preview.data.outcome}): ${preview.data.detail ?? ''}`} />
                )}
              </>
            ) : null}
          </section>

          <Uploads mac={norm} />

          <section class="card" aria-labelledby="timeline-heading">
            <h2 id="timeline-heading">Provisioning requests</h2>
            <Loading state={requests} />
            {requests.data && requests.data.requests.length === 0 ? <p class="muted">This phone has not asked for a file yet.</p> : null}
            {requests.data && requests.data.requests.length > 0 ? (
              <TableWrap stack label="List of provisioning requests" columns={['Time', 'IP', 'File', 'Result', 'User-Agent']}>
                  {requests.data.requests.map((r) => (
                    <tr key={r.id}>
                      <td>
                        <Time iso={r.at} />
                      </td>
                      <td>{r.ip}</td>
                      <td class="url">{r.path.slice(r.path.lastIndexOf('/') + 1)}</td>
                      <td>
                        <Badge tone={r.outcome === 'delivered' ? 'ok' : 'bad'}>{r.outcome.replace(/_/g, ' ')}</Badge> {r.status}
                        {r.detail ? <span class="sub">{r.detail}</span> : null}
                      </td>
                      <td class="ua">{r.user_agent ?? '—'}</td>
                    </tr>
                  ))}
                </TableWrap>
            ) : null}
          </section>
        </>
      ) : null}
    </>
  );
}

interface Upload {
  name: string;
  bytes: number;
  uploaded_at: string;
}

/** Files the phone wrote to the server (Polycom: settings changed on the phone or its web page, logs). */
function Uploads({ mac }: { mac: string }) {
  const uploads = useAsync(() => api<{ uploads: Upload[] }>('GET', `/api/provisioning/devices/${encodeURIComponent(mac)}/uploads`), [mac]);
  const [shown, setShown] = useState<{ name: string; text: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  useLive(['activity'], uploads.reload);
  const show = async (name: string) => {
    setError(null);
    try {
      setShown({ name, text: await apiText(`/api/provisioning/devices/${encodeURIComponent(mac)}/uploads/${encodeURIComponent(name)}`) });
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const list = uploads.data?.uploads ?? [];
  return (
    <section class="card" aria-labelledby="uploads-heading">
      <h2 id="uploads-heading">Files the phone uploaded</h2>
      <Loading state={uploads} />
      {uploads.data && list.length === 0 ? <p class="muted">None. Polycom phones upload the settings a user changes on the phone, and their logs.</p> : null}
      {list.length > 0 ? (
        <TableWrap stack label="List of uploaded files" columns={['File', 'Size', 'Uploaded', 'Contents']}>
          {list.map((u) => (
            <tr key={u.name} data-upload={u.name}>
              <td class="url">{u.name}</td>
              <td>{u.bytes} bytes</td>
              <td>
                <Time iso={u.uploaded_at} />
              </td>
              <td>
                <button type="button" class="secondary" onClick={() => void show(u.name)}>
                  Show
                </button>
              </td>
            </tr>
          ))}
        </TableWrap>
      ) : null}
      {error ? <FormError message={error} /> : null}
      {shown ? (
        <pre class="file" tabIndex={0} aria-label={`Contents of ${shown.name}`} data-upload-content>
          {shown.text}
        </pre>
      ) : null}
    </section>
  );
}

function ResyncButtons({ mac }: { mac: string }) {
  const [result, setResult] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const send = async (reboot: boolean) => {
    setBusy(true);
    setError(null);
    setResult(null);
    try {
      const r = await api<{ contacts: number; statuses: number[]; event: string }>('POST', `/api/provisioning/devices/${mac}/resync`, { reboot });
      setResult(
        r.contacts === 0
          ? 'The phone is not registered, so it cannot be told now; it fetches its file at its next scheduled check or reboot.'
          : `${reboot ? 'Reboot' : 'Resync'} (${r.event}) sent to ${r.contacts} contact(s); answers: ${r.statuses.join(', ')}.`,
      );
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button type="button" class="small" disabled={busy} onClick={() => send(false)}>
        Resync
      </button>
      <ConfirmButton label="Reboot" confirm="Yes, reboot the phone" tone="secondary" busy={busy} onConfirm={() => send(true)} />
      <div class="action-result" aria-live="polite">
        {result ? <Notice>{result}</Notice> : null}
        <FormError message={error} />
      </div>
    </>
  );
}

function EditPhone({ device, onSaved }: { device: Device; onSaved: () => void }) {
  const exts = useExtensionChoices();
  const [open, setOpen] = useState(false);
  const [extension, setExtension] = useState(device.lines[0] ?? '');
  const [label, setLabel] = useState(device.label ?? '');
  const { busy, errors, setErrors, onSubmit } = useFormAction(['extension_number', 'label']);
  if (!open) {
    return (
      <div class="buttons">
        <button type="button" class="secondary" onClick={() => setOpen(true)}>
          Change extension or label
        </button>
        <ConfirmButton
          label="Remove phone"
          confirm="Yes, remove it"
          onConfirm={async () => {
            try {
              await api('DELETE', `/api/provisioning/devices/${device.mac_address}`);
              navigate('/phones');
            } catch (err) {
              setErrors(toFormErrors(err, []));
            }
          }}
        />
        <FormError message={errors.form} />
      </div>
    );
  }
  const save = onSubmit(async () => {
    await api('PUT', `/api/provisioning/devices/${device.mac_address}`, { extension_number: extension, label: label || null });
    setOpen(false);
    onSaved();
  });
  return (
    <form class="form inline" onSubmit={save} aria-label="Change extension or label" noValidate>
      <div class="grid">
        <ExtensionPicker choices={exts.data} value={extension} onValue={setExtension} error={errors.fields.extension_number} />
        <Field label="Label" name="label" value={label} onValue={setLabel} error={errors.fields.label} />
      </div>
      <FormButtons submit="Save" busy={busy} error={errors.form} onCancel={() => setOpen(false)} />
    </form>
  );
}

function ProvisioningLogin(props: { device: Device; admin: boolean; onFresh: (c: { user: string; password: string }) => void; onChanged: () => void }) {
  const d = props.device;
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const put = async (body: Record<string, unknown>) => {
    setBusy(true);
    setError(null);
    try {
      const r = await api<WithCredential>('PUT', `/api/provisioning/devices/${d.mac_address}`, body);
      if (r.provisioning_password) props.onFresh({ user: r.provisioning_username ?? d.mac_address, password: r.provisioning_password });
      props.onChanged();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="card" aria-labelledby="login-heading">
      <h2 id="login-heading">Provisioning login</h2>
      <dl class="details">
        <dt>User</dt>
        <dd>
          <code>{d.provisioning_username}</code>
        </dd>
        <dt>Fetch without login</dt>
        <dd>
          {d.first_fetch_window_until ? (
            <>
              allowed from provisioning.auth.first_fetch_networks until <Time iso={d.first_fetch_window_until} />, or until its first fetch with the login. A request
              without a login is served meanwhile (so a test with curl --digest proves nothing now); a wrong login is refused.
            </>
          ) : (
            'no: every fetch must log in'
          )}
        </dd>
        <dt>Last fetch with login</dt>
        <dd>
          <Time iso={d.last_authenticated_at} />
        </dd>
      </dl>
      {props.admin ? (
        <div class="buttons">
          <ConfirmButton label="New provisioning password" confirm="Yes, make a new one" tone="secondary" busy={busy} onConfirm={() => put({ regenerate_provisioning_password: true })} />
          {d.first_fetch_window_until ? null : (
            <button type="button" class="secondary small" disabled={busy} onClick={() => put({ open_first_fetch_window: true })}>
              Let it fetch once without login
            </button>
          )}
        </div>
      ) : null}
      <FormError message={error} />
    </section>
  );
}
