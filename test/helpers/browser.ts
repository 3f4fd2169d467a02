// Debian's Chromium driven by playwright-core (no downloaded browser), with the checks
// every web admin page must pass: axe-core's WCAG A/AA rules, labels, headings, every
// action reachable with Tab, no click handlers on non-interactive elements.
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { ROOT } from './server.ts';

export const CHROMIUM = '/usr/bin/chromium';
export const SCREENSHOTS = join(ROOT, 'test-output/screenshots');
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // As root (CI containers) Chromium refuses to start with its sandbox.
    args: [...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), '--disable-dev-shm-usage', '--disable-gpu'],
  });
}

/**
 * A browser context for the tests. tsx compiles the functions handed to page.evaluate
 * with esbuild's keepNames, which calls a `__name` helper the page does not have.
 */
export async function newContext(browser: Browser, viewport = DESKTOP): Promise<BrowserContext> {
  const ctx = await browser.newContext({ viewport });
  await ctx.addInitScript({ content: 'globalThis.__name = (f) => f;' });
  ctx.setDefaultTimeout(10_000);
  return ctx;
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface Problem {
  page: string;
  problem: string;
}

/**
 * Accessibility checks of the page as it is now. Returns what is wrong (empty when fine),
 * so a test can name every page that fails at once.
 */
export async function accessibilityProblems(page: Page, name: string): Promise<Problem[]> {
  const out: Problem[] = [];
  const add = (problem: string) => out.push({ page: name, problem });

  // axe-core: evaluated over the DevTools protocol, which the page's CSP does not block.
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(axeSource);
  const axe = await page.evaluate(async () => {
    const r = await (window as any).axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
    });
    return r.violations.map((v: any) => `${v.id}: ${v.help} (${v.nodes.map((n: any) => n.target.join(' ')).slice(0, 3).join(', ')})`);
  });
  for (const v of axe as string[]) add(`axe ${v}`);

  // Labels, headings (checked directly too, so the rule does not depend on axe's tags).
  const dom = await page.evaluate(() => {
    const unlabelled = [...document.querySelectorAll('input, select, textarea')]
      .filter((el) => (el as HTMLInputElement).type !== 'hidden')
      .filter((el) => {
        const id = el.id;
        const byFor = id && document.querySelector(`label[for="${CSS.escape(id)}"]`);
        return !byFor && !el.closest('label') && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby');
      })
      .map((el) => el.outerHTML.slice(0, 80));
    const h1 = document.querySelectorAll('h1').length;
    const headings = document.querySelectorAll('h1, h2, h3, h4').length;
    return { unlabelled, h1, headings };
  });
  for (const u of dom.unlabelled) add(`input without a label: ${u}`);
  if (dom.h1 !== 1) add(`${dom.h1} h1 elements (want exactly one)`);
  if (dom.headings < 1) add('no headings');

  // Keyboard: Tab from the top must reach every visible button and link.
  const targets = await page.evaluate(() => {
    const visible = (el: Element) => {
      const r = el.getBoundingClientRect();
      const s = getComputedStyle(el);
      return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && !(el as HTMLButtonElement).disabled;
    };
    const all = [...document.querySelectorAll('a[href], button, [role="button"]')].filter(visible);
    all.forEach((el, i) => el.setAttribute('data-kbd', String(i)));
    return all.length;
  });
  const reached = new Set<string>();
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  await page.evaluate(() => window.scrollTo(0, 0));
  for (let i = 0; i < targets + 80 && reached.size < targets; i++) {
    await page.keyboard.press('Tab');
    const k = await page.evaluate(() => document.activeElement?.getAttribute('data-kbd') ?? null);
    if (k !== null) reached.add(k);
  }
  if (reached.size < targets) {
    const missed = await page.evaluate(
      (seen) =>
        [...document.querySelectorAll('[data-kbd]')]
          .filter((el) => !seen.includes(el.getAttribute('data-kbd')!))
          .map((el) => el.outerHTML.slice(0, 80)),
      [...reached],
    );
    for (const m of missed) add(`not reachable with Tab: ${m}`);
  }

  // Click handlers only on elements a keyboard can operate (DevTools knows every listener).
  const cdp = await page.context().newCDPSession(page);
  try {
    const { result } = await cdp.send('Runtime.evaluate', {
      expression: `[...document.querySelectorAll('body *:not(a):not(button):not(input):not(select):not(textarea):not(label):not(summary):not(option)')]`,
    });
    const { result: props } = await cdp.send('Runtime.getProperties', { objectId: result.objectId!, ownProperties: true });
    for (const p of props) {
      if (!/^\d+$/.test(p.name) || !p.value?.objectId) continue;
      const { listeners } = await cdp.send('DOMDebugger.getEventListeners', { objectId: p.value.objectId });
      const clicky = listeners.filter((l) => ['click', 'mousedown', 'mouseup', 'pointerdown'].includes(l.type));
      if (clicky.length) {
        const { result: html } = await cdp.send('Runtime.callFunctionOn', {
          objectId: p.value.objectId,
          functionDeclaration: 'function () { return this.outerHTML.slice(0, 80); }',
          returnByValue: true,
        });
        add(`click handler on a non-interactive element: ${html.value}`);
      }
    }
  } finally {
    await cdp.detach();
  }
  return out;
}

/** Screenshots of the page at desktop and phone size, and the accessibility checks at both. */
export async function capture(page: Page, name: string): Promise<Problem[]> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const problems: Problem[] = [];
  for (const size of [DESKTOP, PHONE]) {
    await page.setViewportSize(size);
    await page.waitForTimeout(50);
    await page.screenshot({ path: join(SCREENSHOTS, `${name}-${size.width}x${size.height}.png`), fullPage: true });
    problems.push(...(await accessibilityProblems(page, `${name} at ${size.width}×${size.height}`)));
    // Nothing may stick out sideways on a phone (tables scroll inside their own region).
    if (size === PHONE) {
      const overflow = await page.evaluate(() => {
        const width = document.documentElement.clientWidth;
        const extra = document.documentElement.scrollWidth - width;
        // The outermost elements that stick out, to say what to fix.
        const out = [...document.querySelectorAll('body *')].filter((el) => el.getBoundingClientRect().right > width + 1 && !el.parentElement?.closest('.table-wrap'));
        const outer = out.filter((el) => !out.includes(el.parentElement!)).map((el) => el.outerHTML.slice(0, 60));
        return { extra, outer };
      });
      if (overflow.extra > 1) problems.push({ page: name, problem: `the page is ${overflow.extra}px wider than a 390px screen: ${overflow.outer.join(' | ')}` });
    }
  }
  await page.setViewportSize(DESKTOP);
  return problems;
}
