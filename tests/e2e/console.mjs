// SPDX-License-Identifier: LGPL-2.1-or-later
// The operator console in headless Chromium (playwright-core), against a
// mirrord that has a transcoded stream (--thumb) and another (--plain) and
// an admin token (--token).
// Usage: node tests/e2e/console.mjs --url http://127.0.0.1:9090/ --thumb cam --plain pattern
//        --token T --shots DIR
// Checks: a tile per stream; the transcoded tile's thumbnail bytes change
// within a few seconds; the figures change without a reload (SSE updates);
// Pause without the token is refused (401, the dialog cancelled) and
// changes nothing; with the token typed into the dialog it pauses (the tile
// says so; the caller checks the API too); screenshots at desktop and phone
// widths. Prints one JSON line; exits 0 on success, 1 on failure.
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const require = createRequire(new URL('../../web/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const { values: opts } = parseArgs({
  options: {
    url: { type: 'string' }, thumb: { type: 'string' }, plain: { type: 'string' },
    token: { type: 'string' }, shots: { type: 'string' }, seconds: { type: 'string', default: '60' },
  },
});

const deadline = Date.now() + Number(opts.seconds) * 1000;
const steps = [];

async function until(what, fn, intervalMs = 200) {
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'mirror-console-'));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: '/usr/bin/chromium', headless: true, viewport: { width: 1280, height: 800 },
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const errors = [];
  try {
    const page = context.pages()[0] ?? await context.newPage();
    page.on('pageerror', (e) => errors.push(String(e)));
    const thumbs = [];
    page.on('response', async (r) => {
      if (r.url().includes(`/api/v1/streams/${opts.thumb}/thumbnail.jpg`) && r.status() === 200)
        thumbs.push({ at: Date.now(), body: (await r.body()).toString('base64') });
    });
    await page.goto(opts.url, { waitUntil: 'load' });
    await page.evaluate(() => { window.__loadedOnce = true; });

    // A tile per stream.
    for (const id of [opts.thumb, opts.plain])
      await page.waitForSelector(`article.tile[data-stream="${id}"]`, { timeout: deadline - Date.now() });
    steps.push('tiles');

    // Figures moving without a reload: SSE updates, the sparkline redrawn.
    const sel = `article.tile[data-stream="${opts.thumb}"]`;
    const before = await page.evaluate(() => window.mirrorConsole.updates());
    const pointsBefore = await page.getAttribute(`${sel} .spark polyline`, 'points');
    await until('three updates', async () => await page.evaluate(() => window.mirrorConsole.updates()) >= before + 3);
    const pointsAfter = await page.getAttribute(`${sel} .spark polyline`, 'points');
    if (pointsAfter === pointsBefore) throw new Error('the sparkline did not move');
    if (!await page.evaluate(() => window.__loadedOnce === true)) throw new Error('the page reloaded');
    steps.push('updates');

    // Thumbnails that change.
    await until('a thumbnail', () => thumbs.length > 0);
    const first = thumbs[0];
    await until('a different thumbnail 3 s on', () => thumbs.some((t) => t.at >= first.at + 3000 && t.body !== first.body));
    if (!await page.$(`${sel} img.thumb`)) throw new Error('no thumbnail image in the tile');
    steps.push('thumbnails');

    await page.screenshot({ path: join(opts.shots, 'console-desktop.png'), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(opts.shots, 'console-phone.png'), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 800 });
    steps.push('screenshots');

    // Pause without the token: 401, the dialog asks, cancelled: nothing changes.
    const plain = `article.tile[data-stream="${opts.plain}"]`;
    await page.click(`${plain} button[data-action="pause"]`);
    await page.waitForSelector('#token-dialog[open]', { timeout: deadline - Date.now() });
    await page.click('#token-dialog button[value="cancel"]');
    await until('the refusal shown', async () => (await page.textContent('#notice')).includes('401'));
    const state = await page.evaluate(async (id) => (await (await fetch('/api/v1/streams/' + id)).json()).state, opts.plain);
    if (state === 'paused') throw new Error('paused without the token');
    steps.push('401');

    // With the token typed in: paused, and the tile says so (from the SSE).
    await page.click(`${plain} button[data-action="pause"]`);
    await page.waitForSelector('#token-dialog[open]', { timeout: deadline - Date.now() });
    await page.fill('#token-input', opts.token);
    await page.click('#token-ok');
    await until('the tile paused', async () => (await page.textContent(`${plain} .state`)) === 'paused');
    steps.push('paused');

    // Keyboard: Enter on a tile opens its detail with the player; Escape closes it.
    await page.focus(plain);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#detail:not([hidden])', { timeout: deadline - Date.now() });
    // Its log: what mirrord said about it (its pause among them).
    await until('the stream\'s log lines', async () => (await page.textContent('#log')).includes('paused'));
    if (!(await page.textContent('#description')).includes('videotestsrc')) throw new Error('no pipeline description');
    const src = await page.getAttribute('#player', 'src');
    if (!src.includes(`?stream=${opts.plain}`)) throw new Error('the player is not the stream\'s: ' + src);
    await page.keyboard.press('Escape');
    await page.waitForSelector('#detail[hidden]', { state: 'attached', timeout: deadline - Date.now() });
    steps.push('detail');

    // The recorded stream's detail offers its recording: a time-shifted
    // player, a clip and the whole recording, on the Origin.
    await until('the recording\'s links', async () => {
      await page.click(`${sel} button[data-action="open"]`);
      await page.waitForSelector('#detail:not([hidden])', { timeout: deadline - Date.now() });
      const shown = !await page.$eval('#dvr-actions', (e) => e.hidden);
      await page.click('#detail-close');
      return shown;
    }, 1000);
    await page.click(`${sel} button[data-action="open"]`);
    const clip = await page.getAttribute('#dvr-clip', 'href');
    if (!/\/live\/[^/]+\/clip\.mp4\?start=\d+&end=\d+$/.test(clip)) throw new Error('clip link: ' + clip);
    const clipStatus = await page.evaluate(async (u) => (await fetch(u)).status, clip);
    if (clipStatus !== 200) throw new Error(`clip.mp4 answered ${clipStatus}`);
    await page.click('#detail-close');
    steps.push('recording');

    if (errors.length) throw new Error('page errors: ' + errors.join('; '));
    process.stdout.write(JSON.stringify({ ok: true, steps }) + '\n');
    return 0;
  } catch (e) {
    process.stdout.write(JSON.stringify({ ok: false, steps, reason: String(e), errors }) + '\n');
    return 1;
  } finally {
    await context.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

process.exit(await main());
