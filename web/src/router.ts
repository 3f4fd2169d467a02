// A small history-API router for the pages under /admin.
import { useEffect, useState } from 'preact/hooks';

export const BASE = '/admin';

/** The path inside the app: "/phones/0015…" for /admin/phones/0015…. */
export function appPath(): string {
  const p = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : location.pathname;
  return p.replace(/\/+$/, '') || '/';
}

const listeners = new Set<() => void>();
window.addEventListener('popstate', () => listeners.forEach((l) => l()));

export function navigate(to: string, replace = false): void {
  const url = BASE + (to === '/' ? '/' : to);
  if (url === location.pathname + location.search) return;
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  listeners.forEach((l) => l());
  window.scrollTo(0, 0);
}

export function useRoute(): string {
  const [path, setPath] = useState(appPath());
  useEffect(() => {
    const l = () => setPath(appPath());
    listeners.add(l);
    return () => listeners.delete(l);
  }, []);
  return path;
}

/** Links stay real links (open in a new tab, keyboard, screen readers); plain clicks route in place. */
export function onLinkClick(e: MouseEvent): void {
  const a = (e.currentTarget as HTMLAnchorElement | null) ?? null;
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const href = a.getAttribute('href') ?? '';
  if (!href.startsWith(BASE)) return;
  e.preventDefault();
  navigate(href.slice(BASE.length) || '/');
}
