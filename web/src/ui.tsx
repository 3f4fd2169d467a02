// Small building blocks shared by the pages: labelled fields with their error, async
// data, copy and confirm buttons, tables that scroll on a phone, times.
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useId, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api';
import { BASE, onLinkClick } from './router';

export function Link(props: { href: string; children: ComponentChildren; class?: string; 'aria-current'?: 'page' | undefined }) {
  const { href, children, ...rest } = props;
  return (
    <a href={BASE + href} onClick={onLinkClick} {...rest}>
      {children}
    </a>
  );
}

export function PageTitle({ title, children }: { title: string; children?: ComponentChildren }) {
  useEffect(() => {
    document.title = `${title} · pbx admin`;
  }, [title]);
  return (
    <div class="page-title">
      <h1 id="page-heading" tabIndex={-1}>
        {title}
      </h1>
      {children ? <div class="actions">{children}</div> : null}
    </div>
  );
}

/** Field errors from an API error: the field it names, or the form as a whole. */
export interface FormErrors {
  fields: Record<string, string>;
  form: string | null;
}

export const NO_ERRORS: FormErrors = { fields: {}, form: null };

/**
 * A form's action: `busy` while it runs, then the API's errors by field (`known`
 * names the fields this form shows; others go to the form's own error line).
 */
export function useFormAction(known: string[]) {
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  const run = async (what: () => Promise<void>) => {
    setBusy(true);
    setErrors(NO_ERRORS);
    try {
      await what();
    } catch (err) {
      setErrors(toFormErrors(err, known));
    } finally {
      setBusy(false);
    }
  };
  const onSubmit = (what: () => Promise<void>) => (e: Event) => {
    e.preventDefault();
    void run(what);
  };
  return { busy, errors, setErrors, run, onSubmit };
}

export function toFormErrors(err: unknown, known: string[], alias: Record<string, string> = {}): FormErrors {
  if (err instanceof ApiError) {
    const field = err.field ? (alias[err.field] ?? err.field) : undefined;
    if (field && known.includes(field)) return { fields: { [field]: err.message }, form: null };
    return { fields: {}, form: err.message };
  }
  return { fields: {}, form: (err as Error)?.message ?? String(err) };
}

interface InputProps {
  type?: 'text' | 'search' | 'password' | 'number' | 'date';
  placeholder?: string;
  required?: boolean;
  autoFocus?: boolean;
  autocomplete?: string;
  inputMode?: 'numeric' | 'text';
  /** The id of a <datalist> of suggestions. */
  list?: string;
  min?: number;
  max?: number;
}

export function Field(props: InputProps & { label: string; name: string; value: string; onValue: (v: string) => void; error?: string; hint?: ComponentChildren }) {
  const { label, name, value, onValue, error, hint, ...input } = props;
  const id = useId();
  const described = [error ? `${id}-err` : '', hint ? `${id}-hint` : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div class={`field${error ? ' has-error' : ''}`}>
      <label for={id}>{label}</label>
      <input
        id={id}
        name={name}
        value={value}
        onInput={(e) => onValue(e.currentTarget.value)}
        aria-invalid={error ? 'true' : undefined}
        aria-describedby={described}
        // Preact types <input> per `type`; these props are valid for each type Field allows.
        {...(input as {})}
      />
      {hint ? (
        <p class="hint" id={`${id}-hint`}>
          {hint}
        </p>
      ) : null}
      {error ? (
        <p class="error" id={`${id}-err`} role="alert">
          {error}
        </p>
      ) : null}
    </div>
  );
}

export function SelectField(props: {
  label: string;
  name: string;
  value: string;
  onValue: (v: string) => void;
  options: (string | { value: string; label: string })[];
  error?: string;
  placeholder?: string;
  required?: boolean;
  disabled?: boolean;
}) {
  const id = useId();
  return (
    <div class={`field${props.error ? ' has-error' : ''}`}>
      <label for={id}>{props.label}</label>
      <select
        id={id}
        name={props.name}
        value={props.value}
        required={props.required}
        disabled={props.disabled}
        onChange={(e) => props.onValue(e.currentTarget.value)}
        aria-invalid={props.error ? 'true' : undefined}
        aria-describedby={props.error ? `${id}-err` : undefined}
      >
        {props.placeholder !== undefined ? <option value="">{props.placeholder}</option> : null}
        {props.options.map((o) => (typeof o === 'string' ? <option value={o}>{o}</option> : <option value={o.value}>{o.label}</option>))}
      </select>
      {props.error ? (
        <p class="error" id={`${id}-err`} role="alert">
          {props.error}
        </p>
      ) : null}
    </div>
  );
}

export function Checkbox(props: { label: string; name: string; checked: boolean; onValue: (v: boolean) => void; disabled?: boolean }) {
  const id = useId();
  return (
    <div class="field check">
      <input type="checkbox" id={id} name={props.name} checked={props.checked} disabled={props.disabled} onChange={(e) => props.onValue(e.currentTarget.checked)} />
      <label for={id}>{props.label}</label>
    </div>
  );
}

export function FormError({ message }: { message: string | null | undefined }) {
  if (!message) return null;
  return (
    <p class="form-error" role="alert">
      {message}
    </p>
  );
}

export function Notice({ children, tone = 'info' }: { children: ComponentChildren; tone?: 'info' | 'warn' | 'ok' }) {
  return <div class={`notice ${tone}`}>{children}</div>;
}

export interface Async<T> {
  data: T | undefined;
  error: string | null;
  loading: boolean;
  reload: () => void;
}

/** Loads data and keeps the last good copy while reloading (live updates do not flicker). */
export function useAsync<T>(load: () => Promise<T>, deps: unknown[]): Async<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const seq = useRef(0);
  const run = useCallback(() => {
    const n = ++seq.current;
    setLoading(true);
    load().then(
      (d) => {
        if (n !== seq.current) return;
        setData(d);
        setError(null);
        setLoading(false);
      },
      (err: Error) => {
        if (n !== seq.current) return;
        setError(err.message);
        setLoading(false);
      },
    );
  }, deps);
  useEffect(run, [run]);
  return { data, error, loading, reload: run };
}

export function Loading({ state }: { state: Async<unknown> }) {
  if (state.error) return <FormError message={`Could not load: ${state.error}`} />;
  if (state.loading && state.data === undefined) return <p class="muted" role="status">Loading…</p>;
  return null;
}

export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [done, setDone] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // Older browsers or an insecure origin: the classic way.
      const ta = document.createElement('textarea');
      ta.value = text;
      ta.setAttribute('readonly', '');
      ta.className = 'offscreen';
      document.body.append(ta);
      ta.select();
      document.execCommand('copy');
      ta.remove();
    }
    setDone(true);
    setTimeout(() => setDone(false), 2000);
  };
  return (
    <button type="button" class="secondary small" onClick={copy}>
      {done ? 'Copied' : label}
      <span class="visually-hidden" aria-live="polite">
        {done ? ' to the clipboard' : ''}
      </span>
    </button>
  );
}

/** A secret the server shows only once: say so, show it with a copy button, let it go. */
export function SecretPanel(props: { title: string; children: ComponentChildren; rows: [string, string][]; onDone: () => void }) {
  const id = useId();
  return (
    <section class="card secret" aria-labelledby={id}>
      <h2 id={id}>{props.title}</h2>
      {props.children}
      <dl class="details">
        {props.rows.map(([label, value]) => (
          <>
            <dt>{label}</dt>
            <dd class="secret-value">
              <code data-secret={label}>{value}</code> <CopyButton text={value} label={`Copy ${label.toLowerCase()}`} />
            </dd>
          </>
        ))}
      </dl>
      <button type="button" class="secondary" onClick={props.onDone}>
        Done
      </button>
    </section>
  );
}

/** A destructive action takes two clicks: the first asks, the second does it. */
export function ConfirmButton(props: { label: string; confirm: string; onConfirm: () => void | Promise<void>; busy?: boolean; tone?: 'danger' | 'secondary' }) {
  const [asking, setAsking] = useState(false);
  const yes = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (asking) yes.current?.focus();
  }, [asking]);
  if (!asking) {
    return (
      <button type="button" class={`${props.tone ?? 'danger'} small`} onClick={() => setAsking(true)}>
        {props.label}
      </button>
    );
  }
  return (
    <span class="confirm" role="group" aria-label={props.label}>
      <button
        ref={yes}
        type="button"
        class={`${props.tone ?? 'danger'} small`}
        disabled={props.busy}
        onClick={async () => {
          await props.onConfirm();
          setAsking(false);
        }}
      >
        {props.confirm}
      </button>
      <button type="button" class="secondary small" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </span>
  );
}

/**
 * Wide tables scroll sideways on a phone; the region is focusable so the keyboard can
 * scroll it. With `stack`, each row becomes a card on a phone instead, every cell
 * labelled with its column (explicit roles keep it a table for screen readers).
 */
export function TableWrap({ label, columns, stack, children }: { label: string; columns: (string | false)[]; stack?: boolean; children: ComponentChildren }) {
  const ref = useRef<HTMLDivElement>(null);
  const shown = columns.filter((c) => c !== false);
  useLayoutEffect(() => {
    if (!stack) return;
    for (const tr of ref.current?.querySelectorAll('tbody tr') ?? []) {
      tr.setAttribute('role', 'row');
      [...tr.children].forEach((cell, i) => {
        cell.setAttribute('role', cell.tagName === 'TH' ? 'rowheader' : 'cell');
        if ((cell as HTMLTableCellElement).colSpan > 1) cell.removeAttribute('data-label');
        else cell.setAttribute('data-label', shown[i] ?? '');
      });
    }
  });
  return (
    <div ref={ref} class={`table-wrap${stack ? ' stack' : ''}`} role="region" aria-label={label} tabIndex={0}>
      <table role={stack ? 'table' : undefined}>
        <thead role={stack ? 'rowgroup' : undefined}>
          <tr role={stack ? 'row' : undefined}>
            {shown.map((c) => (
              <th scope="col" role={stack ? 'columnheader' : undefined}>
                {c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody role={stack ? 'rowgroup' : undefined}>{children}</tbody>
      </table>
    </div>
  );
}

/** A form's submit and cancel buttons, after its error. */
export function FormButtons({ submit, busy, error, onCancel, cancel = 'Cancel' }: { submit: string; busy: boolean; error: string | null; onCancel: () => void; cancel?: string }) {
  return (
    <>
      <FormError message={error} />
      <div class="buttons">
        <button type="submit" disabled={busy}>
          {submit}
        </button>
        <button type="button" class="secondary" onClick={onCancel}>
          {cancel}
        </button>
      </div>
    </>
  );
}

export function Badge({ tone, children }: { tone: 'ok' | 'warn' | 'bad' | 'neutral'; children: ComponentChildren }) {
  return <span class={`badge ${tone}`}>{children}</span>;
}

export function syncTone(state: string): 'ok' | 'warn' | 'bad' | 'neutral' {
  if (state === 'in sync') return 'ok';
  if (state === 'pending') return 'neutral';
  if (state === 'never provisioned') return 'neutral';
  return 'warn';
}

export function fmtTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' }) : d.toLocaleString([], { dateStyle: 'short', timeStyle: 'short' });
}

export function Time({ iso }: { iso: string | null | undefined }) {
  if (!iso) return <span>—</span>;
  return <time dateTime={iso}>{fmtTime(iso)}</time>;
}

/** 0015659be768 → 00:15:65:9b:e7:68, for people. */
export function prettyMac(mac: string): string {
  return mac.replace(/(..)(?!$)/g, '$1:');
}

/**
 * Where a long list stands ("101–200 of 100,000") and the way to the pages beside it.
 * Lists that grow with the site are read a page at a time (the API's limit, offset, q).
 */
export function Pager({ label, offset, limit, total, onOffset }: { label: string; offset: number; limit: number; total: number; onOffset: (offset: number) => void }) {
  if (total <= limit && offset === 0) return null;
  const last = Math.min(offset + limit, total);
  return (
    <nav class="pager" aria-label={`${label} pages`}>
      <span role="status">
        {total === 0 ? 0 : offset + 1}–{last} of {total.toLocaleString('en')}
      </span>{' '}
      <button type="button" class="secondary small" disabled={offset === 0} onClick={() => onOffset(Math.max(0, offset - limit))}>
        Previous <span class="visually-hidden">{label}</span>
      </button>{' '}
      <button type="button" class="secondary small" disabled={last >= total} onClick={() => onOffset(offset + limit)}>
        Next <span class="visually-hidden">{label}</span>
      </button>
    </nav>
  );
}
