import type { Device, Registration } from '../contract';
export type { Device, Registration };
import { useId, useState } from 'preact/hooks';
import { api, isAdmin, useLive } from '../api';
import { navigate } from '../router';
import { Badge, Field, FormButtons, Link, Loading, Pager, PageTitle, SelectField, TableWrap, Time, prettyMac, syncTone, useAsync, useFormAction } from '../ui';
import type { Extension } from './Extensions';


/** A device answer that carries its provisioning password (create, or a new one): shown once. */
export type WithCredential = Device & { provisioning_password?: string };

/** Provisioning credentials just made, for the phone page to show once, keyed by MAC. */
export const freshCredentials = new Map<string, { user: string; password: string }>();

export function rememberCredential(d: WithCredential): void {
  if (d.provisioning_password) freshCredentials.set(d.mac_address, { user: d.provisioning_username ?? d.mac_address, password: d.provisioning_password });
}


export interface Vendors {
  vendors: string[];
  models: Record<string, string[]>;
}

/** A site with more extensions than this picks one by typing (the server suggests), not from a select. */
const SELECT_MAX = 200;
const SUGGESTIONS = 20;

export interface ExtensionChoices {
  extensions: Extension[];
  total: number;
}

const findExtensions = (q: string, limit: number) =>
  api<ExtensionChoices>('GET', `/api/extensions?free_first=true&limit=${limit}${q ? `&q=${encodeURIComponent(q)}` : ''}`);

/** What a form offers to pick a phone's extension from: every extension on a small site, the first ones on a big one. */
export function useExtensionChoices() {
  const choices = useAsync(() => findExtensions('', SELECT_MAX), []);
  useLive(['extensions', 'devices'], choices.reload, 1000);
  return choices;
}

/**
 * Pick an extension, those without a phone first: from a select when the site has a few
 * hundred at most; on a bigger site (a list of 100,000 would stall the page) by typing
 * a number or a name, with the server's matches as suggestions.
 */
export function ExtensionPicker(props: { choices: ExtensionChoices | undefined; value: string; onValue: (v: string) => void; error?: string; placeholder?: string }) {
  const total = props.choices?.total ?? 0;
  const big = total > SELECT_MAX;
  const typed = props.value.trim();
  const found = useAsync(async () => (big && typed ? findExtensions(typed, SUGGESTIONS) : undefined), [big, typed]);
  const listId = useId();
  const label = (x: Extension) => `${x.number}${x.name ? ` · ${x.name}` : ''}${x.devices.length ? ' (has a phone)' : ''}`;
  const field = { label: 'Extension', name: 'extension_number', value: props.value, onValue: props.onValue, error: props.error };
  if (!big) {
    return <SelectField {...field} options={(props.choices?.extensions ?? []).map((x) => ({ value: x.number, label: label(x) }))} placeholder={props.placeholder} />;
  }
  const suggestions = found.data?.extensions ?? props.choices?.extensions.slice(0, SUGGESTIONS) ?? [];
  return (
    <>
      <Field
        {...field}
        list={listId}
        autocomplete="off"
        placeholder="Number or name"
        hint={`${total.toLocaleString()} extensions: type a number or a name${found.data && found.data.total === 0 ? ' (none matches)' : ''}`}
      />
      <datalist id={listId}>
        {suggestions.map((x) => (
          <option key={x.number} value={x.number}>
            {label(x)}
          </option>
        ))}
      </datalist>
    </>
  );
}

export const loadVendors = () => api<Vendors>('GET', '/api/provisioning/vendors');

/** The registrations of these extensions (comma-separated numbers), in one request; none asked for: none. */
export const loadRegistrationsOf = async (lines: string) =>
  lines ? api<{ registrations: Registration[] }>('GET', `/api/registrations?extensions=${lines}`) : { registrations: [] as Registration[] };

/** Phones shown per page: the server filters and cuts the list (a site may have 100,000). */
const PAGE_SIZE = 100;

export function Phones() {
  const [query, setQuery] = useState('');
  const [offset, setOffset] = useState(0);
  const q = query.trim();
  const devices = useAsync(
    // The offset travels with its page: the pager says which rows are shown, not which are asked for.
    async () => ({ offset, ...(await api<{ devices: Device[]; total: number }>('GET', `/api/provisioning/devices?limit=${PAGE_SIZE}&offset=${offset}${q ? `&q=${encodeURIComponent(q)}` : ''}`)) }),
    [q, offset],
  );
  // Registrations of the phones on this page only.
  const lines = [...new Set((devices.data?.devices ?? []).flatMap((d) => d.lines))].join(',');
  const regs = useAsync(() => loadRegistrationsOf(lines), [lines]);
  useLive(['devices', 'config', 'activity', 'extensions'], devices.reload, 1000);
  useLive(['registrations'], regs.reload, 1000);
  const [adding, setAdding] = useState(false);
  const admin = isAdmin();
  const rows = devices.data?.devices ?? [];
  const contacts = (d: Device) => (regs.data?.registrations ?? []).filter((r) => r.extension === d.lines[0]);

  return (
    <>
      <PageTitle title="Phones">
        {admin && !adding ? (
          <button type="button" onClick={() => setAdding(true)}>
            Add phone
          </button>
        ) : null}
      </PageTitle>
      {adding ? <AddPhone onCancel={() => setAdding(false)} onAdded={(mac) => navigate(`/phones/${mac}`)} /> : null}
      <div class="toolbar">
        <Field label="Search phones" name="search" type="search" value={query} onValue={(v) => (setQuery(v), setOffset(0))} placeholder="MAC, extension, model" />
      </div>
      {devices.data ? <Pager label="phones" offset={devices.data.offset} limit={PAGE_SIZE} total={devices.data.total} onOffset={setOffset} /> : null}
      <Loading state={devices} />
      {devices.data ? (
        <TableWrap stack label="Phones" columns={['Phone', 'Vendor / model', 'Extension', 'Registration', 'Sync', 'Config URL']}>
            {rows.length === 0 ? (
              <tr>
                <td colSpan={6} class="muted">
                  {q ? 'No phone matches the search.' : 'No phones yet. Add one, or assign one from the adoption queue.'}
                </td>
              </tr>
            ) : null}
            {rows.map((d) => {
              const c = contacts(d);
              return (
                <tr key={d.mac_address} data-mac={d.mac_address}>
                  <th scope="row">
                    <Link href={`/phones/${d.mac_address}`}>{prettyMac(d.mac_address)}</Link>
                    {d.label ? <span class="sub">{d.label}</span> : null}
                  </th>
                  <td>
                    {d.vendor} {d.model}
                  </td>
                  <td>{d.lines.join(', ')}</td>
                  <td>{c.length ? <Badge tone="ok">registered{c.length > 1 ? ` (${c.length})` : ''}</Badge> : <Badge tone="neutral">not registered</Badge>}</td>
                  <td>
                    <Badge tone={syncTone(d.sync_state)}>{d.sync_state}</Badge>
                    {d.last_provisioned ? (
                      <span class="sub">
                        fetched <Time iso={d.last_provisioned} />
                      </span>
                    ) : null}
                  </td>
                  <td class="url">
                    <code data-config-url>{d.config_url}</code>
                  </td>
                </tr>
              );
            })}
          </TableWrap>
      ) : null}
    </>
  );
}

function AddPhone({ onCancel, onAdded }: { onCancel: () => void; onAdded: (mac: string) => void }) {
  const vendors = useAsync(loadVendors, []);
  const exts = useExtensionChoices();
  const [mac, setMac] = useState('');
  const [vendor, setVendor] = useState('');
  const [model, setModel] = useState('');
  const [extension, setExtension] = useState('');
  const [label, setLabel] = useState('');
  const { busy, errors, onSubmit } = useFormAction(['mac_address', 'vendor', 'model', 'extension_number', 'label']);
  const models = vendor ? (vendors.data?.models[vendor] ?? []) : [];
  const submit = onSubmit(async () => {
    const d = await api<WithCredential>('POST', '/api/provisioning/devices', {
      mac_address: mac,
      vendor,
      model,
      extension_number: extension || undefined,
      ...(label ? { label } : {}),
    });
    rememberCredential(d);
    onAdded(d.mac_address);
  });
  return (
    <form class="card form" onSubmit={submit} aria-labelledby="add-phone-heading" noValidate>
      <h2 id="add-phone-heading">Add a phone</h2>
      <div class="grid">
        <Field label="MAC address" name="mac_address" value={mac} onValue={setMac} error={errors.fields.mac_address} required autoFocus autocomplete="off" hint="Any form: 00:15:65:12:34:56, 00-15-65-12-34-56, 0015.6512.3456 or 001565123456" />
        <SelectField
          label="Vendor"
          name="vendor"
          value={vendor}
          onValue={(v) => (setVendor(v), setModel(''))}
          options={vendors.data?.vendors ?? []}
          placeholder="Choose a vendor"
          error={errors.fields.vendor}
          required
        />
        <SelectField label="Model" name="model" value={model} onValue={setModel} options={models} placeholder={vendor ? 'Choose a model' : 'Choose a vendor first'} error={errors.fields.model} required disabled={!vendor} />
        <ExtensionPicker choices={exts.data} value={extension} onValue={setExtension} placeholder="Choose an extension" error={errors.fields.extension_number} />
        <Field label="Label" name="label" value={label} onValue={setLabel} error={errors.fields.label} placeholder="e.g. Front desk" />
      </div>
      <FormButtons submit="Add phone" busy={busy} error={errors.form} onCancel={onCancel} />
    </form>
  );
}
