import type { Extension } from '../contract';
export type { Extension };
import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { api, isAdmin, useLive } from '../api';
import { Badge, Checkbox, ConfirmButton, Field, FormButtons, FormError, Link, Loading, Pager, SelectField, PageTitle, SecretPanel, TableWrap, useAsync, useFormAction } from '../ui';

/** Extensions shown per page: a site may have 100,000, and the server filters and cuts the list. */
export const PAGE_SIZE = 100;


interface Secret {
  number: string;
  password: string;
}

export function Extensions() {
  const [query, setQuery] = useState('');
  const [offset, setOffset] = useState(0);
  const q = query.trim().toLowerCase();
  const list = useAsync(
    // The offset travels with its page: the pager says which rows are shown, not which are asked for.
    async () => ({ offset, ...(await api<{ extensions: Extension[]; total: number }>('GET', `/api/extensions?limit=${PAGE_SIZE}&offset=${offset}${q ? `&q=${encodeURIComponent(q)}` : ''}`)) }),
    [q, offset],
  );
  useLive(['extensions', 'devices'], list.reload, 1000);
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<string | null>(null);
  const [secret, setSecret] = useState<Secret | null>(null);
  const admin = isAdmin();
  const rows = list.data?.extensions ?? [];

  return (
    <>
      <PageTitle title="Extensions">
        {admin && !creating ? (
          <button type="button" onClick={() => (setCreating(true), setSecret(null))}>
            New extension
          </button>
        ) : null}
      </PageTitle>
      {secret ? <ExtensionSecret secret={secret} onDone={() => setSecret(null)} /> : null}
      {creating ? (
        <CreateExtension
          onCancel={() => setCreating(false)}
          onCreated={(s) => {
            setCreating(false);
            setSecret(s);
            list.reload();
          }}
        />
      ) : null}
      <div class="toolbar">
        <Field label="Search extensions" name="search" type="search" value={query} onValue={(v) => (setQuery(v), setOffset(0))} placeholder="Number or name" />
      </div>
      {list.data ? <Pager label="extensions" offset={list.data.offset} limit={PAGE_SIZE} total={list.data.total} onOffset={setOffset} /> : null}
      <Loading state={list} />
      {list.data ? (
        <TableWrap stack label="Extensions" columns={['Number', 'Name', 'State', 'Phones', admin && 'Actions']}>
            {rows.length === 0 ? (
              <tr>
                <td colSpan={5} class="muted">
                  {q ? 'No extension matches the search.' : 'No extensions yet.'}
                </td>
              </tr>
            ) : null}
            {rows.map((e) => (
              <Fragment key={e.number}>
                <tr data-extension={e.number}>
                  <th scope="row">{e.number}</th>
                  <td>{e.name ?? <span class="muted">—</span>}</td>
                  <td>
                    {e.enabled ? <Badge tone="ok">enabled</Badge> : <Badge tone="warn">disabled</Badge>} <Link href={`/voicemail/${e.number}`}>Voicemail <span class="visually-hidden">of {e.number}</span></Link>
                  </td>
                  <td>
                    {e.devices.length === 0 ? (
                      <span class="muted">none</span>
                    ) : (
                      e.devices.map((m) => (
                        <>
                          <Link href={`/phones/${m}`}>{m}</Link>{' '}
                        </>
                      ))
                    )}
                  </td>
                  {admin ? (
                    <td class="row-actions">
                      <button type="button" class="secondary small" aria-expanded={editing === e.number} onClick={() => setEditing(editing === e.number ? null : e.number)}>
                        Edit <span class="visually-hidden">extension {e.number}</span>
                      </button>
                    </td>
                  ) : null}
                </tr>
                {editing === e.number ? (
                  <tr class="editing">
                    <td colSpan={5}>
                      <EditExtension
                        ext={e}
                        onClose={() => setEditing(null)}
                        onChanged={(s) => {
                          if (s) setSecret(s);
                          list.reload();
                        }}
                      />
                    </td>
                  </tr>
                ) : null}
              </Fragment>
            ))}
          </TableWrap>
      ) : null}
    </>
  );
}

function ExtensionSecret({ secret, onDone }: { secret: Secret; onDone: () => void }) {
  return (
    <SecretPanel title={`SIP password of extension ${secret.number}`} rows={[['Password', secret.password]]} onDone={onDone}>
      <p>It is shown only now. Provisioning puts it into the phone; copy it for a phone set up by hand. It cannot be shown again (regenerate it if lost).</p>
    </SecretPanel>
  );
}

function CreateExtension({ onCancel, onCreated }: { onCancel: () => void; onCreated: (s: Secret) => void }) {
  const [number, setNumber] = useState('');
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [allowWeak, setAllowWeak] = useState(false);
  const { busy, errors, onSubmit } = useFormAction(['number', 'name', 'password']);
  const submit = onSubmit(async () => {
    const r = await api<Extension & { password: string }>('POST', '/api/extensions', {
      number,
      ...(name ? { name } : {}),
      ...(password ? { password, ...(allowWeak ? { allow_weak_password: true } : {}) } : {}),
    });
    onCreated({ number: r.number, password: r.password });
  });
  return (
    <form class="card form" onSubmit={submit} aria-labelledby="new-ext-heading" noValidate>
      <h2 id="new-ext-heading">New extension</h2>
      <div class="grid">
        <Field label="Number" name="number" value={number} onValue={setNumber} error={errors.fields.number} inputMode="numeric" required autoFocus hint="2 to 10 digits" />
        <Field label="Name" name="name" value={name} onValue={setName} error={errors.fields.name} />
        <Field label="SIP password" name="password" value={password} onValue={setPassword} error={errors.fields.password} autocomplete="off" hint="Leave empty for a strong generated one" />
        {password ? (
          <Checkbox label="Accept it even if weak (a phone that cannot take a long password; scanners guess weak ones)" name="allow_weak_password" checked={allowWeak} onValue={setAllowWeak} />
        ) : null}
      </div>
      <FormButtons submit="Create extension" busy={busy} error={errors.form} onCancel={onCancel} />
    </form>
  );
}

function EditExtension({ ext, onClose, onChanged }: { ext: Extension; onClose: () => void; onChanged: (s?: Secret) => void }) {
  const [name, setName] = useState(ext.name ?? '');
  const [enabled, setEnabled] = useState(ext.enabled);
  const [algorithms, setAlgorithms] = useState((ext.digest_algorithms ?? []).join(','));
  const [pin, setPin] = useState('');
  const { busy, errors, run: act } = useFormAction(['name', 'enabled', 'digest_algorithms', 'voicemail_pin']);
  const save = (e: Event) => {
    e.preventDefault();
    void act(async () => {
      await api('PUT', `/api/extensions/${ext.number}`, {
        ...(name ? { name } : {}),
        enabled,
        digest_algorithms: algorithms ? algorithms.split(',') : null,
        ...(pin ? { voicemail_pin: pin } : {}),
      });
      onChanged();
      onClose();
    });
  };
  return (
    <form class="form inline" onSubmit={save} aria-label={`Edit extension ${ext.number}`} noValidate>
      <div class="grid">
        <Field label="Name" name="name" value={name} onValue={setName} error={errors.fields.name} />
        <Checkbox label="Enabled (may register and call)" name="enabled" checked={enabled} onValue={setEnabled} />
        <SelectField
          label="Digest algorithms"
          name="digest_algorithms"
          value={algorithms}
          onValue={setAlgorithms}
          error={errors.fields.digest_algorithms}
          options={[
            { value: '', label: 'Server default (SHA-256, then MD5)' },
            { value: 'MD5', label: 'MD5 only: for a phone that reads only the first challenge and lacks SHA-256' },
            { value: 'SHA-256', label: 'SHA-256 only: refuse MD5' },
            { value: 'SHA-256,MD5', label: 'SHA-256, then MD5' },
            { value: 'MD5,SHA-256', label: 'MD5, then SHA-256' },
          ]}
        />
        <Field
          label={ext.voicemail_pin_set ? 'New voicemail PIN' : 'Voicemail PIN'}
          name="voicemail_pin"
          value={pin}
          onValue={setPin}
          error={errors.fields.voicemail_pin}
          inputMode="numeric"
          autocomplete="off"
          hint={
            <>
              Typed on the phone after *97; stored hashed. <Link href={`/voicemail/${ext.number}`}>Voicemail settings and messages</Link>
            </>
          }
        />
      </div>
      <FormError message={errors.form} />
      <div class="buttons">
        <button type="submit" disabled={busy}>
          Save
        </button>
        <ConfirmButton
          label="Regenerate password"
          confirm="Yes, new password"
          tone="secondary"
          busy={busy}
          onConfirm={() =>
            act(async () => {
              const r = await api<{ password: string }>('PUT', `/api/extensions/${ext.number}`, { regenerate_password: true });
              onChanged({ number: ext.number, password: r.password });
              onClose();
            })
          }
        />
        <ConfirmButton
          label="Delete extension"
          confirm={`Delete ${ext.number}`}
          busy={busy}
          onConfirm={() =>
            act(async () => {
              await api('DELETE', `/api/extensions/${ext.number}`);
              onChanged();
              onClose();
            })
          }
        />
        <button type="button" class="secondary" onClick={onClose}>
          Close
        </button>
      </div>
    </form>
  );
}
