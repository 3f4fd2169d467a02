import { useState } from 'preact/hooks';
import { api, isAdmin, useLive } from '../api';
import { navigate } from '../router';
import { FormError, Loading, PageTitle, SelectField, Time, prettyMac, useAsync, useFormAction } from '../ui';
import { ExtensionPicker, useExtensionChoices, loadVendors, rememberCredential, type ExtensionChoices, type Vendors, type WithCredential } from './Phones';

interface Unknown {
  mac_address: string;
  first_seen: string;
  last_seen: string;
  requests: number;
  last_ip: string;
  last_file: string;
  user_agent: string | null;
  vendor: string | null;
  model: string | null;
  guessed_from: 'user-agent' | 'mac-prefix' | null;
}

export function Adoption() {
  const queue = useAsync(() => api<{ unknown: Unknown[] }>('GET', '/api/provisioning/adoption'), []);
  const vendors = useAsync(loadVendors, []);
  const exts = useExtensionChoices();
  useLive(['activity', 'devices'], queue.reload);
  const admin = isAdmin();
  const list = queue.data?.unknown ?? [];
  return (
    <>
      <PageTitle title="Adoption queue" />
      <p class="lead">Phones that asked this server for a file but are not set up here. Vendor and model are guessed from the MAC prefix and the User-Agent; check them, pick an extension, and the phone gets its file at its next fetch.</p>
      <Loading state={queue} />
      {queue.data && list.length === 0 ? <p class="muted">No unknown phones have asked for a file.</p> : null}
      <ul class="cards">
        {list.map((u) => (
          <li class="card" key={u.mac_address} data-mac={u.mac_address}>
            <h2>{prettyMac(u.mac_address)}</h2>
            <dl class="details">
              <dt>Guess</dt>
              <dd>{u.vendor ? `${u.vendor}${u.model ? ` ${u.model}` : ''} (from the ${u.guessed_from === 'user-agent' ? 'User-Agent' : 'MAC prefix'})` : 'unknown vendor'}</dd>
              <dt>Asked for</dt>
              <dd>
                <code>{u.last_file}</code> · {u.requests} request(s), last <Time iso={u.last_seen} /> from {u.last_ip}
              </dd>
              <dt>User-Agent</dt>
              <dd class="ua">{u.user_agent ?? '—'}</dd>
            </dl>
            {admin && vendors.data && exts.data ? (
              <AssignForm unknown={u} vendors={vendors.data} choices={exts.data} onAssigned={() => navigate(`/phones/${u.mac_address}`)} />
            ) : null}
          </li>
        ))}
      </ul>
    </>
  );
}

function AssignForm({ unknown, vendors, choices, onAssigned }: { unknown: Unknown; vendors: Vendors; choices: ExtensionChoices; onAssigned: () => void }) {
  const [vendor, setVendor] = useState(unknown.vendor ?? '');
  const [model, setModel] = useState(unknown.model ?? '');
  const [extension, setExtension] = useState('');
  const { busy, errors, onSubmit } = useFormAction(['vendor', 'model', 'extension_number']);
  const submit = onSubmit(async () => {
    rememberCredential(await api<WithCredential>('POST', '/api/provisioning/devices', { mac_address: unknown.mac_address, vendor, model, extension_number: extension || undefined }));
    onAssigned();
  });
  return (
    <form class="form inline" onSubmit={submit} aria-label={`Assign ${prettyMac(unknown.mac_address)}`} noValidate>
      <div class="grid">
        <SelectField label="Vendor" name="vendor" value={vendor} onValue={(v) => (setVendor(v), setModel(''))} options={vendors.vendors} placeholder="Choose a vendor" error={errors.fields.vendor} />
        <SelectField label="Model" name="model" value={model} onValue={setModel} options={vendor ? (vendors.models[vendor] ?? []) : []} placeholder="Choose a model" error={errors.fields.model} />
        <ExtensionPicker choices={choices} value={extension} onValue={setExtension} placeholder="Choose an extension" error={errors.fields.extension_number} />
      </div>
      <FormError message={errors.form} />
      <div class="buttons">
        <button type="submit" disabled={busy}>
          Assign <span class="visually-hidden">{prettyMac(unknown.mac_address)}</span> to extension
        </button>
      </div>
    </form>
  );
}
