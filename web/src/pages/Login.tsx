import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, setSession, type Role } from '../api';
import { Field, FormError } from '../ui';

type Answer = { token: string; role: Role; expires_at: string };

/** Sign-in, or, on a fresh server with no admin yet, making the first admin with the setup token. */
export function Login({ onDone }: { onDone: () => void }) {
  const [setupNeeded, setSetupNeeded] = useState(false);
  useEffect(() => {
    api<{ needed: boolean }>('GET', '/api/auth/setup')
      .then((r) => setSetupNeeded(r.needed))
      .catch(() => setSetupNeeded(false));
  }, []);
  return setupNeeded ? <FirstAdmin onDone={onDone} /> : <SignIn onDone={onDone} />;
}

/** Posts a form to an endpoint that answers a session; signs in with it, or keeps the error. */
function useSessionForm(onDone: () => void) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [fields, setFields] = useState<Record<string, string>>({});
  const send = async (e: Event, path: string, body: Record<string, string>, onError: (err: unknown) => void) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setFields({});
    try {
      const r = await api<Answer>('POST', path, body);
      setSession({ token: r.token, role: r.role, expires_at: r.expires_at, name: body.username ?? '' });
      onDone();
    } catch (err) {
      onError(err);
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, setError, fields, setFields, send };
}

function SignIn({ onDone }: { onDone: () => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const form = useSessionForm(onDone);
  const submit = (e: Event) =>
    form.send(e, '/api/auth/login', { username, password }, (err) =>
      form.setError(err instanceof ApiError && err.status === 400 ? 'Enter a username and a password.' : (err as Error).message),
    );

  return (
    <main id="main" class="login">
      <form class="card" onSubmit={submit} aria-labelledby="page-heading">
        <h1 id="page-heading">Sign in to pbx</h1>
        <p class="muted">Use an admin account (made with <code>pbx admin create</code>).</p>
        <Field label="Username" name="username" value={username} onValue={setUsername} autocomplete="username" required autoFocus />
        <Field label="Password" name="password" type="password" value={password} onValue={setPassword} autocomplete="current-password" required />
        <FormError message={form.error} />
        <button type="submit" disabled={form.busy}>
          {form.busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}

function FirstAdmin({ onDone }: { onDone: () => void }) {
  const [token, setToken] = useState('');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const form = useSessionForm(onDone);
  const submit = (e: Event) =>
    form.send(e, '/api/auth/setup', { token: token.trim(), username, password }, (err) => {
      if (err instanceof ApiError && err.field) form.setFields({ [err.field]: err.message });
      else form.setError((err as Error).message);
    });

  return (
    <main id="main" class="login">
      <form class="card" onSubmit={submit} aria-labelledby="page-heading">
        <h1 id="page-heading">Create the first admin</h1>
        <p class="muted">
          This server has no admin account yet. Its log names a file holding a one-time setup token (<code>data/setup-token</code> by default); paste
          it here. Or run <code>pbx admin create &lt;name&gt;</code> on the server.
        </p>
        <Field label="Setup token" name="token" value={token} onValue={setToken} autocomplete="off" required autoFocus error={form.fields.token} />
        <Field label="Username" name="username" value={username} onValue={setUsername} autocomplete="username" required error={form.fields.username} />
        <Field
          label="Password"
          name="password"
          type="password"
          value={password}
          onValue={setPassword}
          autocomplete="new-password"
          required
          hint="At least 12 characters."
          error={form.fields.password}
        />
        <FormError message={form.error} />
        <button type="submit" disabled={form.busy}>
          {form.busy ? 'Creating…' : 'Create admin and sign in'}
        </button>
      </form>
    </main>
  );
}
