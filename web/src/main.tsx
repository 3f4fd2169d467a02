// The web admin: login, then a page per task. Every change goes through the REST API
// with the session's bearer token; read-only accounts see everything and no controls.
import { Mailbox } from './pages/Mailbox';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import './styles.css';
import { api, adoptHandoff, currentSession, liveState, onLiveState, onSessionChange, setSession, startLive, stopLive } from './api';
import { appPath, navigate, useRoute } from './router';
import { Link, Notice } from './ui';
import { Login } from './pages/Login';
import { Dashboard } from './pages/Dashboard';
import { Extensions } from './pages/Extensions';
import { Phones } from './pages/Phones';
import { Phone } from './pages/Phone';
import { Adoption } from './pages/Adoption';
import { Calls } from './pages/Calls';
import { Trunks } from './pages/Trunks';
import { Settings } from './pages/Settings';

const NAV: [string, string][] = [
  ['/', 'Dashboard'],
  ['/extensions', 'Extensions'],
  ['/phones', 'Phones'],
  ['/adoption', 'Adoption'],
  ['/calls', 'Calls'],
  ['/trunks', 'Trunks'],
  ['/settings', 'Settings'],
];

function page(path: string) {
  const phone = /^\/phones\/([^/]+)$/.exec(path);
  if (phone) return <Phone mac={decodeURIComponent(phone[1]!)} />;
  const mailbox = /^\/voicemail\/([0-9]+)$/.exec(path);
  if (mailbox) return <Mailbox mailbox={mailbox[1]!} />;
  switch (path) {
    case '/':
      return <Dashboard />;
    case '/extensions':
      return <Extensions />;
    case '/phones':
      return <Phones />;
    case '/adoption':
      return <Adoption />;
    case '/calls':
      return <Calls />;
    case '/trunks':
      return <Trunks />;
    case '/settings':
      return <Settings />;
    default:
      return <NotFound />;
  }
}

function NotFound() {
  return (
    <>
      <h1>Page not found</h1>
      <p>
        There is no page here. <Link href="/">Go to the dashboard</Link>.
      </p>
    </>
  );
}

function useSession() {
  const [s, set] = useState(currentSession());
  useEffect(() => onSessionChange(() => set(currentSession())), []);
  return s;
}

function LiveIndicator() {
  const [state, set] = useState(liveState);
  useEffect(() => onLiveState(() => set(liveState)), []);
  return (
    <span class={`live ${state}`} role="status" title="Live updates from the server">
      {state === 'live' ? 'Live' : state === 'connecting' ? 'Connecting…' : 'Offline'}
    </span>
  );
}

function App() {
  const session = useSession();
  const path = useRoute();
  useEffect(() => {
    if (session) startLive();
    else stopLive();
  }, [session?.token]);
  // After navigation, move focus to the new page's heading (screen readers announce it).
  useEffect(() => {
    document.getElementById('page-heading')?.focus({ preventScroll: true });
    // On a phone the menu scrolls sideways: keep the current page's entry in view.
    document.querySelector('nav [aria-current="page"]')?.scrollIntoView({ block: 'nearest', inline: 'nearest' });
  }, [path, !!session]);

  if (!session) return <Login onDone={() => navigate(path === '/login' ? '/' : path, true)} />;
  const current = (href: string) => (href === '/' ? path === '/' : path === href || path.startsWith(href + '/'));
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <div class="brand">
          <span aria-hidden="true" class="logo">
            ☎
          </span>{' '}
          pbx admin
        </div>
        <nav aria-label="Main">
          <ul>
            {NAV.map(([href, label]) => (
              <li>
                <Link href={href} aria-current={current(href) ? 'page' : undefined}>
                  {label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          <LiveIndicator />
          <span class="user">
            {session.name || 'token'} <span class="role">({session.role})</span>
          </span>
          <button type="button" class="secondary small" onClick={logOut}>
            Log out
          </button>
        </div>
      </header>
      <main id="main">
        {session.role === 'read-only' ? <Notice>Read-only account: you can look at everything, but not change anything.</Notice> : null}
        {page(path)}
      </main>
    </>
  );
}

adoptHandoff();
if (appPath() === '/login' && currentSession()) navigate('/', true);
render(<App />, document.getElementById('app')!);

/** Ends the session on the server too (its token is revoked), then forgets it here. */
async function logOut(): Promise<void> {
  await api('POST', '/api/auth/logout').catch(() => undefined);
  setSession(null);
}
