// SPDX-License-Identifier: LGPL-2.1-or-later
// End-to-end playback check: opens the Origin's player page in headless Chromium and waits for live playback.
// Usage: node tests/e2e/play.mjs --url https://127.0.0.1:8443/?stream=cam1 [--seconds 30] [--expect-protocol h3|http/1.1] [--extra-arg ARG]...
// Needs `npm ci --prefix web` and /usr/bin/chromium; prints one JSON line, exits 0 on success and 1 on failure.
// With --follow it plays for --seconds whatever happens and prints the player's stats as one JSON line
// per poll ({"t": seconds since the page loaded, "playing", "currentTime", ...}), then the result line.
// MIRROR_E2E_CONSOLE=FILE appends the page's console to FILE (with ?debug in the URL, hls.js's log).
// --seek-fraction F: once playing, seek to F of the media's duration (a VOD range) and require
// playback to advance from there too.
// --scrub-back S: once playing live, drag the page's DVR scrubber S seconds back and let go; the
// page must then play the recording (stats().shifted), advancing from there.
import { createRequire } from 'node:module';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const require = createRequire(new URL('../../web/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const REQUIRED_ADVANCE_S = 2;
const POLL_MS = 250;

function finish(result) {
  process.stdout.write(JSON.stringify(result) + '\n');
  return result.ok ? 0 : 1;
}

async function main() {
  let opts;
  try {
    ({ values: opts } = parseArgs({
      options: {
        url: { type: 'string' },
        seconds: { type: 'string', default: '30' },
        'expect-protocol': { type: 'string' },
        'extra-arg': { type: 'string', multiple: true, default: [] },
        follow: { type: 'boolean', default: false },
        'seek-fraction': { type: 'string' },
        'scrub-back': { type: 'string' },
      },
    }));
  } catch (e) {
    return finish({ ok: false, reason: 'bad arguments: ' + e.message });
  }
  const seconds = Number(opts.seconds);
  if (!opts.url || !(seconds > 0)) return finish({ ok: false, reason: 'usage: --url URL [--seconds N] [--expect-protocol P] [--extra-arg ARG]...' });

  const userDataDir = mkdtempSync(join(tmpdir(), 'mirror-e2e-'));
  const consoleErrors = [];
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      ignoreHTTPSErrors: true,
      args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        '--ignore-certificate-errors', '--autoplay-policy=no-user-gesture-required',
        ...opts['extra-arg']],
    });
    const page = context.pages()[0] ?? await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
      if (process.env.MIRROR_E2E_CONSOLE) appendFileSync(process.env.MIRROR_E2E_CONSOLE, `${Date.now()} ${m.text()}\n`);
    });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));

    const deadline = Date.now() + seconds * 1000;
    await page.goto(opts.url, { waitUntil: 'load', timeout: seconds * 1000 });

    // Poll the page until currentTime has advanced REQUIRED_ADVANCE_S past the first time it was playing.
    let start = null, s = null, seekedTo = null, beforeSeek = null;
    const seekFraction = opts['seek-fraction'] === undefined ? null : Number(opts['seek-fraction']);
    const scrubBack = opts['scrub-back'] === undefined ? null : Number(opts['scrub-back']);
    let scrubbedTo = null;
    const loaded = Date.now();
    while (Date.now() < deadline) {
      s = await page.evaluate(() => window.mirrorPlayer ? window.mirrorPlayer.stats() : null);
      if (opts.follow) {
        process.stdout.write(JSON.stringify({ t: round((Date.now() - loaded) / 1000), ...(s ?? {}) }) + '\n');
      } else if (s && s.playing) {
        if (start === null) start = s.currentTime;
        const advancedEnough = s.currentTime - start >= REQUIRED_ADVANCE_S;
        if (advancedEnough && scrubBack !== null && scrubbedTo === null) {
          // The scrubber shows once dvr.json has answered (every 5 s).
          scrubbedTo = await page.evaluate((back) => {
            const scrub = document.getElementById('scrub');
            if (document.getElementById('dvr').hidden || !scrub.max) return null;
            scrub.value = Number(scrub.max) - back;
            scrub.dispatchEvent(new Event('input'));
            scrub.dispatchEvent(new Event('change'));
            return Number(scrub.value);
          }, scrubBack);
          if (scrubbedTo !== null) start = null;
          await new Promise((r) => setTimeout(r, POLL_MS));
          continue;
        }
        if (scrubBack !== null && scrubbedTo !== null && !s.shifted) {
          start = null;
          await new Promise((r) => setTimeout(r, POLL_MS));
          continue;
        }
        if (advancedEnough && seekFraction !== null && seekedTo === null) {
          // Into the range, then it must play on from there.
          beforeSeek = s.currentTime;
          seekedTo = await page.evaluate((f) => {
            const v = document.getElementById('video');
            v.currentTime = v.duration * f;
            return v.currentTime;
          }, seekFraction);
          start = seekedTo;
          await new Promise((r) => setTimeout(r, POLL_MS));
          continue;
        }
        if (advancedEnough && s.currentTime >= (seekedTo ?? 0) && (seekedTo !== null || seekFraction === null)
            && (scrubBack === null || scrubbedTo !== null)
            && (!opts['expect-protocol'] || s.protocol)) break;
      }
      if (opts.follow && s && s.playing && start === null) start = s.currentTime;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }

    const advanced = start === null || !s ? 0 : s.currentTime - start;
    const result = {
      ok: advanced >= REQUIRED_ADVANCE_S,
      advanced_s: round(advanced),
      latency_s: round(s?.latency),
      pdt_latency_s: round(s?.pdtLatency),
      protocol: s?.protocol ?? '',
      level: s?.level ?? null,
      errors: s?.errors ?? [],
      shifted: s?.shifted ?? false,
      duration_s: round(s?.duration),
    };
    if (scrubBack !== null) {
      result.scrubbed_to = scrubbedTo;
      result.page_url = page.url();
      if (scrubbedTo === null || !result.shifted) {
        result.ok = false;
        result.reason = scrubbedTo === null ? 'the DVR scrubber never showed' : 'the scrubber did not switch to the recording';
      }
    }
    if (seekFraction !== null) {
      result.seeked_from_s = round(beforeSeek);
      result.seeked_to_s = round(seekedTo);
      if (seekedTo === null) {
        result.ok = false;
        result.reason = 'never played long enough to seek';
      }
    }
    if (!s) result.reason = 'window.mirrorPlayer never appeared';
    else if (!result.ok) result.reason = `playback advanced ${result.advanced_s} s in ${seconds} s (needed ${REQUIRED_ADVANCE_S} s)`;
    else if (opts['expect-protocol'] && result.protocol !== opts['expect-protocol']) {
      result.ok = false;
      result.reason = `protocol is "${result.protocol}", expected "${opts['expect-protocol']}"`;
    }
    if (!result.ok) result.console_errors = consoleErrors;
    return finish(result);
  } catch (e) {
    return finish({ ok: false, reason: String(e.message || e).split('\n')[0], console_errors: consoleErrors });
  } finally {
    await context?.close().catch(() => {});
    rmSync(userDataDir, { recursive: true, force: true });
  }
}

function round(v) {
  return typeof v === 'number' && Number.isFinite(v) ? Math.round(v * 1000) / 1000 : null;
}

process.exitCode = await main();
