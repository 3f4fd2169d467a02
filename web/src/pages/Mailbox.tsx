// One extension's mailbox: its settings (on/off, PIN, email) and its messages, each
// playable in the page (the audio is fetched with the session's token and handed to an
// <audio> element as a blob), marked heard or deleted; the lamp follows on the phone.
import { useEffect, useState } from 'preact/hooks';
import { api, apiBlob, isAdmin, useLive } from '../api';
import { Badge, Checkbox, ConfirmButton, Field, FormButtons, FormError, Link, Loading, PageTitle, TableWrap, Time, useAsync, useFormAction } from '../ui';

interface MailboxView {
  mailbox: string;
  enabled: boolean;
  pin_set: boolean;
  email: string | null;
  attach_audio: boolean;
  delete_after_email: boolean;
  new_messages: number;
  saved_messages: number;
}

interface MessageView {
  id: string;
  caller: string;
  caller_name: string | null;
  created_at: string;
  duration_seconds: number;
  folder: 'new' | 'saved';
}

export function Mailbox({ mailbox }: { mailbox: string }) {
  const box = useAsync(() => api<MailboxView>('GET', `/api/voicemail/${encodeURIComponent(mailbox)}`), [mailbox]);
  const messages = useAsync(() => api<{ messages: MessageView[] }>('GET', `/api/voicemail/${encodeURIComponent(mailbox)}/messages`), [mailbox]);
  useLive(['activity', 'extensions'], () => (box.reload(), messages.reload()));
  const admin = isAdmin();
  if (box.error) {
    return (
      <>
        <PageTitle title={`Voicemail ${mailbox}`} />
        <FormError message={box.error} />
        <p>
          <Link href="/extensions">Back to the extensions</Link>
        </p>
      </>
    );
  }
  const b = box.data;
  return (
    <>
      <PageTitle title={`Voicemail ${mailbox}`} />
      <p class="breadcrumb">
        <Link href="/extensions">Extensions</Link> › Voicemail {mailbox}
      </p>
      <Loading state={box} />
      {b ? (
        <p>
          {b.enabled ? <Badge tone="ok">on</Badge> : <Badge tone="warn">off</Badge>} {b.new_messages} new, {b.saved_messages} saved.{' '}
          {b.pin_set ? 'PIN set.' : 'No PIN yet: the mailbox cannot be opened by phone.'}
          {b.email ? ` New messages are mailed to ${b.email}.` : ''}
        </p>
      ) : null}
      <section class="card" aria-labelledby="messages-heading">
        <h2 id="messages-heading">Messages</h2>
        <Loading state={messages} />
        {messages.data && messages.data.messages.length === 0 ? <p class="muted">No messages.</p> : null}
        {messages.data && messages.data.messages.length > 0 ? (
          <TableWrap stack label="List of voicemail messages" columns={['From', 'Received', 'Length', 'Folder', 'Actions']}>
            {messages.data.messages.map((m) => (
              <MessageRow key={m.id} m={m} admin={admin} onChange={() => (messages.reload(), box.reload())} />
            ))}
          </TableWrap>
        ) : null}
      </section>
      {b && admin ? <MailboxSettings box={b} onSaved={box.reload} /> : null}
    </>
  );
}

function MessageRow({ m, admin, onChange }: { m: MessageView; admin: boolean; onChange: () => void }) {
  const [src, setSrc] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => () => void (src && URL.revokeObjectURL(src)), [src]);
  const play = async () => {
    setError(null);
    try {
      setSrc(URL.createObjectURL(await apiBlob(`/api/voicemail/messages/${m.id}/audio`)));
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <tr data-message={m.id}>
      <td>{m.caller_name ? `${m.caller_name} (${m.caller})` : m.caller}</td>
      <td>
        <Time iso={m.created_at} />
      </td>
      <td>{m.duration_seconds.toFixed(1)} s</td>
      <td>{m.folder === 'new' ? <Badge tone="warn">new</Badge> : <Badge tone="neutral">saved</Badge>}</td>
      <td class="row-actions">
        {src ? <audio controls autoPlay src={src} aria-label={`Message from ${m.caller}`} data-player /> : (
          <button type="button" class="secondary small" onClick={() => void play()}>
            Play <span class="visually-hidden">the message from {m.caller}</span>
          </button>
        )}
        {admin && m.folder === 'new' ? (
          <button type="button" class="secondary small" onClick={() => void api('POST', `/api/voicemail/messages/${m.id}/heard`).then(onChange)}>
            Mark heard
          </button>
        ) : null}
        {admin ? <ConfirmButton label="Delete" confirm="Delete this message" onConfirm={() => api('DELETE', `/api/voicemail/messages/${m.id}`).then(onChange)} /> : null}
        {error ? <FormError message={error} /> : null}
      </td>
    </tr>
  );
}

function MailboxSettings({ box, onSaved }: { box: MailboxView; onSaved: () => void }) {
  const [enabled, setEnabled] = useState(box.enabled);
  const [email, setEmail] = useState(box.email ?? '');
  const [attach, setAttach] = useState(box.attach_audio);
  const [deleteAfter, setDeleteAfter] = useState(box.delete_after_email);
  const [pin, setPin] = useState('');
  const [saved, setSaved] = useState(false);
  const { busy, errors, onSubmit } = useFormAction(['enabled', 'email', 'pin']);
  const submit = onSubmit(async () => {
    setSaved(false);
    await api('PUT', `/api/voicemail/${encodeURIComponent(box.mailbox)}`, {
      enabled,
      email: email.trim() || null,
      attach_audio: attach,
      delete_after_email: deleteAfter,
      ...(pin ? { pin } : {}),
    });
    setPin('');
    setSaved(true);
    onSaved();
  });
  return (
    <form class="card form" onSubmit={submit} aria-labelledby="vm-settings-heading" noValidate>
      <h2 id="vm-settings-heading">Settings</h2>
      <div class="grid">
        <Checkbox label="Voicemail on (calls nobody answers go to this mailbox)" name="enabled" checked={enabled} onValue={setEnabled} />
        <Field label="Email new messages to" name="email" value={email} onValue={setEmail} error={errors.fields.email} hint="Needs voicemail.smtp in the configuration" />
        <Checkbox label="Attach the recording" name="attach_audio" checked={attach} onValue={setAttach} />
        <Checkbox label="Delete a message once mailed" name="delete_after_email" checked={deleteAfter} onValue={setDeleteAfter} />
        <Field label={box.pin_set ? 'New PIN' : 'PIN'} name="pin" value={pin} onValue={setPin} error={errors.fields.pin ?? errors.fields.voicemail_pin} inputMode="numeric" autocomplete="off" hint="Digits, typed on the phone after *97; stored hashed" />
      </div>
      <FormButtons submit="Save voicemail settings" busy={busy} error={errors.form} onCancel={() => setPin('')} cancel="Clear" />
      {saved ? (
        <p role="status" class="ok">
          Saved.
        </p>
      ) : null}
    </form>
  );
}
