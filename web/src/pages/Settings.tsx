import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, handOffToPort, isAdmin, useLive } from '../api';
import { Field, FormError, Loading, NO_ERRORS, Notice, PageTitle, SelectField, useAsync, type FormErrors } from '../ui';

interface Settings {
  url_format: string;
  external_ip: string;
  api_port: number;
  sip_port: number;
  timezone: string;
  ntp_server: string;
  language: string;
  codecs: string[];
  dtmf_mode: string;
}

interface UrlPreview {
  config_url: string;
  provisioning_server: string;
  mac_address: string;
  vendor: string | null;
  current_url: string;
  port_change: null | {
    from: number;
    to: number;
    legacy_grace_days: number;
    auto_resync: boolean;
    devices: number;
    devices_registered: number;
    provisioning_port_moves: boolean;
  };
}

type Form = Record<'url_format' | 'external_ip' | 'api_port' | 'sip_port' | 'timezone' | 'ntp_server' | 'codecs' | 'dtmf_mode', string>;
const FIELDS = ['url_format', 'external_ip', 'api_port', 'sip_port', 'timezone', 'ntp_server', 'codecs', 'dtmf_mode'] as const;

/** Where each setting lives in config.yml: the API names that path when it refuses a value. */
const PATHS: Record<string, (typeof FIELDS)[number]> = {
  'provisioning.url_format': 'url_format',
  'server.external_ip': 'external_ip',
  'api.port': 'api_port',
  'server.sip_port': 'sip_port',
  'provisioning.site.timezone': 'timezone',
  'provisioning.site.ntp_server': 'ntp_server',
  'provisioning.site.codecs': 'codecs',
  'provisioning.site.dtmf_mode': 'dtmf_mode',
};

function toForm(s: Settings): Form {
  return {
    url_format: s.url_format,
    external_ip: s.external_ip,
    api_port: String(s.api_port),
    sip_port: String(s.sip_port),
    timezone: s.timezone,
    ntp_server: s.ntp_server,
    codecs: s.codecs.join(', '),
    dtmf_mode: s.dtmf_mode,
  };
}

function errorsOf(err: unknown): FormErrors {
  if (err instanceof ApiError && err.field) {
    const path = err.field.replace(/\.\d+$/, '');
    const field = PATHS[path] ?? (FIELDS as readonly string[]).find((f) => f === path);
    if (field) return { fields: { [field]: err.message }, form: null };
  }
  return { fields: {}, form: (err as Error).message };
}

export function Settings() {
  const settings = useAsync(() => api<Settings>('GET', '/api/provisioning/settings'), []);
  const [form, setForm] = useState<Form | null>(null);
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  const [preview, setPreview] = useState<UrlPreview | null>(null);
  const [previewError, setPreviewError] = useState<string | null>(null);
  const [confirming, setConfirming] = useState(false);
  const [saved, setSaved] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const admin = isAdmin();
  useLive(['config'], () => {
    if (!busy && !dirty()) settings.reload();
  });

  useEffect(() => {
    if (settings.data) setForm(toForm(settings.data));
  }, [settings.data]);

  const dirty = () => !!form && !!settings.data && FIELDS.some((f) => form[f] !== toForm(settings.data!)[f]);

  // Live preview of the URL a phone would get with what is typed now.
  useEffect(() => {
    if (!form) return;
    const t = setTimeout(async () => {
      const q = new URLSearchParams({ url_format: form.url_format, external_ip: form.external_ip });
      if (/^\d+$/.test(form.api_port)) q.set('api_port', form.api_port);
      try {
        setPreview(await api<UrlPreview>('GET', `/api/provisioning/url-preview?${q}`));
        setPreviewError(null);
      } catch (err) {
        setPreviewError((err as Error).message);
      }
    }, 250);
    return () => clearTimeout(t);
  }, [form?.url_format, form?.external_ip, form?.api_port]);

  if (!form || !settings.data) {
    return (
      <>
        <PageTitle title="Settings" />
        <Loading state={settings} />
      </>
    );
  }
  const set = (k: keyof Form) => (v: string) => {
    setForm({ ...form, [k]: v });
    setSaved(null);
    setConfirming(false);
  };
  const original = settings.data;
  const portChange = preview?.port_change ?? null;

  const changes = () => {
    const body: Record<string, unknown> = {};
    const fieldErrors: Record<string, string> = {};
    const now = toForm(original);
    for (const f of FIELDS) {
      if (form[f] === now[f]) continue;
      if (f === 'api_port' || f === 'sip_port') {
        const n = Number(form[f]);
        if (!/^\d+$/.test(form[f].trim()) || n < 1 || n > 65535) fieldErrors[f] = 'A port is a number from 1 to 65535';
        else body[f] = n;
      } else if (f === 'codecs') {
        body.codecs = form.codecs.split(/[\s,]+/).filter(Boolean);
      } else body[f] = form[f].trim();
    }
    return { body, fieldErrors };
  };

  const save = async (e?: Event) => {
    e?.preventDefault();
    const { body, fieldErrors } = changes();
    if (Object.keys(fieldErrors).length) return setErrors({ fields: fieldErrors, form: null });
    if (Object.keys(body).length === 0) return setSaved('Nothing changed.');
    const movingTo = typeof body.api_port === 'number' ? body.api_port : null;
    if (movingTo && !confirming) return setConfirming(true);
    setBusy(true);
    setErrors(NO_ERRORS);
    try {
      const r = await api<{ changed: string[]; settings: Settings }>('PUT', '/api/provisioning/settings', body);
      setConfirming(false);
      if (movingTo) {
        // Once moved, this port serves phones only: an API answer here means the server
        // could not open the new port (in use, or not allowed) and stayed where it was.
        if (await stillServedHere()) {
          setErrors({
            fields: { api_port: `The server could not open port ${movingTo} (in use by another program, or not allowed) and still answers on port ${location.port}; the server log says why.` },
            form: null,
          });
          settings.reload();
          return;
        }
        setSaved(`The server now answers on port ${movingTo}: opening the admin there…`);
        handOffToPort(movingTo, location.pathname);
        return;
      }
      setSaved(r.changed.length ? `Saved: ${r.changed.join(', ')}.` : 'Nothing changed.');
      settings.reload();
    } catch (err) {
      setErrors(errorsOf(err));
      setConfirming(false);
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <PageTitle title="Settings" />
      <form class="settings" onSubmit={save} noValidate aria-label="Provisioning settings">
        <fieldset class="card" disabled={!admin}>
          <legend>
            <h2>Provisioning URL</h2>
          </legend>
          <Field
            label="URL format"
            name="url_format"
            value={form.url_format}
            onValue={set('url_format')}
            error={errors.fields.url_format}
            hint={
              <>
                <code>{'{{SERVER_IP}}'}</code> and <code>{'{{PORT}}'}</code> are filled from the fields below; <code>{'{mac}'}</code> becomes each phone's MAC.
              </>
            }
          />
          <div class="grid">
            <Field label="External IP" name="external_ip" value={form.external_ip} onValue={set('external_ip')} error={errors.fields.external_ip} hint="The address phones reach this server on" />
            <Field label="API and provisioning port" name="api_port" type="number" min={1} max={65535} value={form.api_port} onValue={set('api_port')} error={errors.fields.api_port} />
            <Field label="SIP port" name="sip_port" type="number" min={1} max={65535} value={form.sip_port} onValue={set('sip_port')} error={errors.fields.sip_port} />
          </div>
          <div class="preview" aria-live="polite">
            <p>
              A phone will get: <code data-url-preview>{preview?.config_url ?? '…'}</code>
            </p>
            {preview && preview.config_url !== preview.current_url ? (
              <p class="hint">
                Now: <code>{preview.current_url}</code>
              </p>
            ) : null}
            {previewError ? <p class="error">{previewError}</p> : null}
          </div>
          {portChange ? <PortWarning change={portChange} /> : null}
        </fieldset>
        <fieldset class="card" disabled={!admin}>
          <legend>
            <h2>Site defaults for phones</h2>
          </legend>
          <div class="grid">
            <Field label="Time zone" name="timezone" value={form.timezone} onValue={set('timezone')} error={errors.fields.timezone} hint="IANA name, e.g. Europe/Berlin" />
            <Field label="NTP server" name="ntp_server" value={form.ntp_server} onValue={set('ntp_server')} error={errors.fields.ntp_server} />
            <Field label="Codecs, in order of preference" name="codecs" value={form.codecs} onValue={set('codecs')} error={errors.fields.codecs} hint="Comma separated, first preferred; from PCMU, PCMA, G722, G729, opus" />
            <SelectField
              label="DTMF"
              name="dtmf_mode"
              value={form.dtmf_mode}
              onValue={set('dtmf_mode')}
              options={[...new Set([form.dtmf_mode, 'rfc2833', 'inband', 'info'])].filter(Boolean)}
              error={errors.fields.dtmf_mode}
            />
          </div>
        </fieldset>
        <FormError message={errors.form} />
        {saved ? <Notice tone="ok">{saved}</Notice> : null}
        {admin ? (
          confirming && portChange ? (
            <div class="card confirm-move" role="alertdialog" aria-labelledby="move-heading" aria-describedby="move-text">
              <h2 id="move-heading">Move the server to port {portChange.to}?</h2>
              <p id="move-text">This page reopens on the new port. Read the warning above first.</p>
              <div class="buttons">
                <button type="button" class="danger" disabled={busy} onClick={() => save()} ref={(el) => el?.focus()}>
                  Move to port {portChange.to} and save
                </button>
                <button type="button" class="secondary" onClick={() => setConfirming(false)}>
                  Cancel
                </button>
              </div>
            </div>
          ) : (
            <div class="buttons">
              <button type="submit" disabled={busy}>
                {portChange ? 'Review port change' : 'Save settings'}
              </button>
              <button type="button" class="secondary" onClick={() => (setForm(toForm(original)), setErrors(NO_ERRORS), setSaved(null))}>
                Reset
              </button>
            </div>
          )
        ) : null}
      </form>
    </>
  );
}

/**
 * Whether the API still answers on this page's port. A moved server answers the old
 * port's /api with a redirect to the new one, which is not followed here (the page's
 * content security policy only lets it talk to its own origin).
 */
async function stillServedHere(): Promise<boolean> {
  try {
    const r = await fetch('/api/status', { redirect: 'manual', cache: 'no-store' });
    return r.status === 200 || r.status === 401 || r.status === 403;
  } catch {
    return false;
  }
}

function PortWarning({ change }: { change: NonNullable<UrlPreview['port_change']> }) {
  const days = change.legacy_grace_days;
  return (
    <div class="notice warn" role="note" aria-label="What a port change does" data-port-warning>
      <h3>Changing the port from {change.from} to {change.to}</h3>
      <ul>
        <li>The API and this admin move to port {change.to} at once; the browser follows with your session.</li>
        {change.provisioning_port_moves ? (
          days > 0 ? (
            <li>
              Port {change.from} keeps serving phone files (only) for {days} day(s), so phones that still use the old URL are served and told the new one.
            </li>
          ) : (
            <li>provisioning.legacy_grace_days is 0: port {change.from} closes at once, and phones still using it fail until someone updates them.</li>
          )
        ) : (
          <li>Phones provision over the separate plain-HTTP port, which does not change.</li>
        )}
        <li>
          {change.auto_resync
            ? `The ${change.devices_registered} registered phone(s) of ${change.devices} are told to fetch their file again (SIP NOTIFY); the others learn the new URL at their next fetch.`
            : `Automatic resync is off: resync the ${change.devices} phone(s) yourself, or they learn the new URL at their next scheduled fetch.`}
        </li>
        <li>Check that a firewall lets port {change.to} in before you apply.</li>
      </ul>
    </div>
  );
}
