import { useState } from 'preact/hooks';
import { api, ApiError, setSession, type Role } from '../api';
import { Field, FormError } from '../ui';

export function Login({ onDone }: { onDone: () => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const r = await api<{ token: string; role: Role; expires_at: string }>('POST', '/api/auth/login', { username, password });
      setSession({ token: r.token, role: r.role, expires_at: r.expires_at, name: username });
      onDone();
    } catch (err) {
      setError(err instanceof ApiError && err.status === 400 ? 'Enter a username and a password.' : (err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" class="login">
      <form class="card" onSubmit={submit} aria-labelledby="page-heading">
        <h1 id="page-heading">Sign in to pbx</h1>
        <p class="muted">Use an admin account (made with <code>pbx admin create</code>).</p>
        <Field label="Username" name="username" value={username} onValue={setUsername} autocomplete="username" required autoFocus />
        <Field label="Password" name="password" type="password" value={password} onValue={setPassword} autocomplete="current-password" required />
        <FormError message={error} />
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
