// Talking to the PBX: the session (a bearer token from POST /api/auth/login, kept in
// sessionStorage), JSON calls that turn the API's { error, message, field } into an
// ApiError, the live event stream, and the hand-off to a new port.
import { useEffect, useRef } from 'preact/hooks';

export type Role = 'admin' | 'read-only';

export interface Session {
  token: string;
  role: Role;
  name: string;
  expires_at: string | null;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

const KEY = 'pbx.session';
let session: Session | null = load();
const sessionListeners = new Set<() => void>();

function load(): Session | null {
  try {
    const s = JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as Session | null;
    if (s && s.expires_at && s.expires_at <= new Date().toISOString()) return null;
    return s;
  } catch {
    return null;
  }
}

export function currentSession(): Session | null {
  return session;
}

export function setSession(s: Session | null): void {
  session = s;
  if (s) sessionStorage.setItem(KEY, JSON.stringify(s));
  else sessionStorage.removeItem(KEY);
  for (const l of sessionListeners) l();
}

export function onSessionChange(l: () => void): () => void {
  sessionListeners.add(l);
  return () => sessionListeners.delete(l);
}

/**
 * A new origin (the API port moved) starts with empty storage: the old page passes the
 * session in the URL fragment (never sent to any server), and this takes it and
 * removes it from the address bar and history entry at once.
 */
export function adoptHandoff(): void {
  const m = /(?:^#|&)handoff=([^&]+)/.exec(location.hash);
  if (!m) return;
  try {
    const s = JSON.parse(decodeURIComponent(m[1]!)) as Session;
    if (s.token && (s.role === 'admin' || s.role === 'read-only')) setSession(s);
  } catch {
    /* a damaged fragment: the login page follows */
  }
  history.replaceState(history.state, '', location.pathname + location.search);
}

/** The port a hand-off is under way to: the Settings page's save and the `moved` event both start one. */
let handingOffTo: number | null = null;

/** Opens the same page on the API's new port, carrying the session along (once: a second navigation would abort the first). */
export function handOffToPort(port: number, path = location.pathname): void {
  if (handingOffTo === port) return;
  handingOffTo = port;
  const target = new URL(path, location.href);
  target.port = String(port);
  if (session) target.hash = `handoff=${encodeURIComponent(JSON.stringify(session))}`;
  location.assign(target.href);
}

export async function api<T = any>(method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers: {
        accept: 'application/json',
        ...(session ? { authorization: `Bearer ${session.token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
  } catch {
    throw new ApiError(0, 'network', 'The server does not answer. Is it running, or did its port change?');
  }
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    if (res.status === 401 && session && path !== '/api/auth/login') setSession(null);
    throw new ApiError(res.status, json?.error ?? 'http', json?.message ?? `${res.status} ${res.statusText}`, json?.field ?? undefined);
  }
  return json as T;
}

/** A binary answer (a voicemail message's audio), fetched with the session's token. */
export async function apiBlob(path: string): Promise<Blob> {
  const res = await fetch(path, { headers: session ? { authorization: `Bearer ${session.token}` } : {} });
  if (!res.ok) throw new ApiError(res.status, 'http', `${res.status} ${res.statusText}`);
  return res.blob();
}

/** A text answer (a file a phone uploaded), fetched with the session's token. */
export async function apiText(path: string): Promise<string> {
  const res = await fetch(path, { headers: session ? { authorization: `Bearer ${session.token}` } : {} });
  if (!res.ok) throw new ApiError(res.status, 'http', `${res.status} ${res.statusText}`);
  return res.text();
}

export const isAdmin = () => session?.role === 'admin';

// ---- live updates ---------------------------------------------------------------

export type Topic = 'registrations' | 'calls' | 'devices' | 'extensions' | 'config' | 'activity';
type TopicListener = (topics: Topic[]) => void;
const topicListeners = new Set<TopicListener>();
let stream: AbortController | null = null;
export let liveState: 'connecting' | 'live' | 'offline' = 'offline';
const liveListeners = new Set<() => void>();

function setLive(s: typeof liveState): void {
  liveState = s;
  for (const l of liveListeners) l();
}

export function onLiveState(l: () => void): () => void {
  liveListeners.add(l);
  return () => liveListeners.delete(l);
}

/**
 * Reads GET /api/events with fetch (EventSource cannot send the bearer header) and
 * reconnects after a pause when the stream ends. A `moved` event means the API is on
 * another port now: the page follows it.
 */
export function startLive(): void {
  if (stream || !session) return;
  const ctl = new AbortController();
  stream = ctl;
  void (async () => {
    let delay = 1000;
    while (!ctl.signal.aborted && session) {
      setLive('connecting');
      try {
        const res = await fetch('/api/events', { headers: { authorization: `Bearer ${session.token}`, accept: 'text/event-stream' }, signal: ctl.signal });
        if (res.status === 401) {
          setSession(null);
          break;
        }
        if (!res.ok || !res.body) throw new Error(String(res.status));
        setLive('live');
        delay = 1000;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            dispatch(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
          }
        }
      } catch {
        if (ctl.signal.aborted) break;
      }
      setLive('offline');
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 15_000);
    }
    setLive('offline');
  })();
}

export function stopLive(): void {
  stream?.abort();
  stream = null;
}

function dispatch(block: string): void {
  let event = 'message';
  let data = '';
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) event = line.slice(6).trim();
    else if (line.startsWith('data:')) data += line.slice(5).trim();
  }
  if (!data) return;
  const payload = JSON.parse(data);
  if (event === 'change') for (const l of topicListeners) l(payload.topics as Topic[]);
  if (event === 'moved' && typeof payload.api_port === 'number' && String(payload.api_port) !== location.port) handOffToPort(payload.api_port, location.pathname);
}

/**
 * Calls `reload` when one of `topics` changes on the server: once per `everyMs` at
 * most, however busy the server is (a change during the wait is picked up by the reload).
 */
export function useLive(topics: Topic[], reload: () => void, everyMs = 300): void {
  const ref = useRef(reload);
  ref.current = reload;
  const key = topics.join(',');
  useEffect(() => {
    let timer: number | undefined;
    const l: TopicListener = (changed) => {
      if (!changed.some((t) => topics.includes(t)) || timer !== undefined) return;
      timer = window.setTimeout(() => {
        timer = undefined;
        ref.current();
      }, everyMs);
    };
    topicListeners.add(l);
    return () => {
      clearTimeout(timer);
      topicListeners.delete(l);
    };
  }, [key]);
}
