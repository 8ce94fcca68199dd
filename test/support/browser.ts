/**
 * A real browser for the console tests: Debian's chromium (/usr/bin/chromium, installed by
 * scripts/peers/setup.sh) driven by playwright-core, which downloads nothing. Beside it, what every
 * page is checked for: axe-core run inside the page (no violations of WCAG 2.1 A/AA: labels, names,
 * contrast, …), every control reached by the Tab key, and a screenshot under test-results/console/.
 */
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { REPO_ROOT, requireCommand } from './process.js';

export const CHROMIUM = process.env.CALSYNC_CHROMIUM ?? '/usr/bin/chromium';
export const SCREENSHOTS = join(REPO_ROOT, 'test-results', 'console');

const require = createRequire(import.meta.url);
const AXE = require.resolve('axe-core/axe.min.js');

export async function launchBrowser(): Promise<Browser> {
  requireCommand(CHROMIUM, 'apt-get install -y chromium (npm test installs it: scripts/peers/setup.sh)');
  mkdirSync(SCREENSHOTS, { recursive: true });
  // --no-sandbox: the tests run as root here, where chromium's sandbox refuses to start.
  return await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

/** axe-core's WCAG 2.1 A and AA rules (and its best practices) on the page as it is now. */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  await page.addScriptTag({ path: AXE });
  // Run in the page (this project's TypeScript has no DOM library: the page code is text).
  return (await page.evaluate(`(async () => {
    const result = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => String(n.target)) }));
  })()`)) as AxeViolation[];
}

/**
 * Presses Tab until every visible control (links, buttons, fields, summaries) had the focus, or
 * enough presses to have gone round; answers those it never reached: empty when the keyboard reaches
 * every one of them.
 */
export async function unreachableByKeyboard(page: Page): Promise<string[]> {
  const count = (await page.evaluate(`(() => {
    const controls = [...document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea, summary')].filter(
      (el) => el.offsetParent !== null || el.tagName === 'SUMMARY',
    );
    controls.forEach((el, i) => el.setAttribute('data-kb', String(i)));
    document.activeElement?.blur();
    return controls.length;
  })()`)) as number;
  const reached = new Set<string>();
  // A date-time field takes a Tab for each of its parts, so allow several presses a control.
  for (let press = 0; press < count * 8 + 10 && reached.size < count; press++) {
    await page.keyboard.press('Tab');
    const at = (await page.evaluate(`document.activeElement?.getAttribute('data-kb') ?? null`)) as string | null;
    if (at !== null) reached.add(at);
  }
  return (await page.evaluate(`[...document.querySelectorAll('[data-kb]')]
    .filter((el) => !${JSON.stringify([...reached])}.includes(el.getAttribute('data-kb') ?? ''))
    .map((el) => el.tagName.toLowerCase() + ' "' + (el.textContent ?? '').trim().slice(0, 40) + '"')`)) as string[];
}
