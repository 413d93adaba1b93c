// SPDX-License-Identifier: LGPL-2.1-or-later
// mirrord's operator console: one tile per stream of the cluster, kept
// current by the admin API's Server-Sent Events (GET /api/v1/events: a
// snapshot, then a delta a second and the streams' events), with the
// controls the REST API offers. No polling loop: health is read again when
// an event says something changed, thumbnails when an update arrives.
'use strict';

const HISTORY = 300; // bitrate samples kept per stream: 5 minutes at 1 Hz
const EVENTS_KEPT = 50;
const TOKEN_KEY = 'mirror-admin-token';

const streams = new Map(); // id -> figures (the snapshot's, deltas merged in)
const history = new Map(); // id -> [bitrate_bps]
const eventLog = new Map(); // id -> [{ time, text }]
const tiles = new Map(); // id -> { root, parts... }
let origin = {};
let updates = 0;
let openId = null;

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
}

function fmtRate(bps) {
  if (!bps) return '–';
  return bps >= 1e6 ? (bps / 1e6).toFixed(2) + ' Mbit/s' : (bps / 1e3).toFixed(0) + ' kbit/s';
}

function notice(text) {
  $('notice').textContent = text;
}

function logEvent(id, text) {
  const list = eventLog.get(id) ?? [];
  list.push({ time: new Date().toLocaleTimeString(), text });
  if (list.length > EVENTS_KEPT) list.shift();
  eventLog.set(id, list);
  if (openId === id) renderEvents(id);
}

// ------------------------------------------------------------ controls

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

function askToken() {
  const dialog = $('token-dialog');
  $('token-input').value = token();
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      const ok = dialog.returnValue === 'ok' && $('token-input').value !== '';
      if (ok) sessionStorage.setItem(TOKEN_KEY, $('token-input').value);
      resolve(ok);
    }, { once: true });
  });
}

// One REST call; a 401 asks for the token once and tries again.
async function control(method, path, body) {
  for (let attempt = 0; ; attempt++) {
    const headers = {};
    if (token()) headers.Authorization = 'Bearer ' + token();
    if (body) headers['Content-Type'] = 'application/json';
    const r = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined });
    if (r.status === 401 && attempt === 0 && await askToken()) continue;
    let doc = null;
    try { doc = await r.json(); } catch (e) { /* 204 */ }
    notice(r.ok ? `${method} ${path}: done` : `${method} ${path}: ${r.status} ${doc?.message ?? ''}`);
    return r;
  }
}

const streamPath = (id) => '/api/v1/streams/' + encodeURIComponent(id);

// ------------------------------------------------------------ tiles

function sparkline(values) {
  const max = Math.max(1, ...values);
  const n = Math.max(1, values.length - 1);
  return values.map((v, i) => `${(i / n * 100).toFixed(1)},${(28 - v / max * 26).toFixed(1)}`).join(' ');
}

function makeTile(id) {
  const t = {};
  t.state = el('span', { class: 'state' });
  t.thumb = el('div', { class: 'thumb none', text: 'no picture' });
  t.figures = el('dl', { class: 'figures' });
  t.spark = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  t.spark.setAttribute('class', 'spark');
  t.spark.setAttribute('viewBox', '0 0 100 28');
  t.spark.setAttribute('preserveAspectRatio', 'none');
  t.spark.setAttribute('aria-hidden', 'true');
  t.line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
  t.spark.append(t.line);
  t.message = el('p', { class: 'message' });
  t.pause = el('button', { type: 'button', 'data-action': 'pause' });
  t.drop = el('button', { type: 'button', 'data-action': 'drop', text: 'Drop caller' });
  t.stop = el('button', { type: 'button', class: 'danger', 'data-action': 'stop', text: 'Stop' });
  t.open = el('button', { type: 'button', 'data-action': 'open', text: 'Open' });
  t.root = el('article', { class: 'tile', tabindex: '0', 'data-stream': id, 'aria-label': 'stream ' + id },
    el('h2', {}, el('span', { text: id }), t.state), t.thumb, t.figures, t.spark, t.message,
    el('div', { class: 'controls' }, t.pause, t.drop, t.stop, t.open));
  t.pause.addEventListener('click', () => {
    const s = streams.get(id);
    control('POST', streamPath(id) + (s?.state === 'paused' ? '/resume' : '/pause'));
  });
  t.drop.addEventListener('click', () => control('POST', streamPath(id) + '/drop-caller'));
  t.stop.addEventListener('click', () => {
    // A second press within 3 s confirms (no modal confirm()).
    if (t.stop.dataset.armed) {
      delete t.stop.dataset.armed;
      t.stop.textContent = 'Stop';
      control('DELETE', streamPath(id));
    } else {
      t.stop.dataset.armed = '1';
      t.stop.textContent = 'Stop? press again';
      setTimeout(() => { delete t.stop.dataset.armed; t.stop.textContent = 'Stop'; }, 3000);
    }
  });
  t.open.addEventListener('click', () => openDetail(id));
  t.root.addEventListener('keydown', (e) => {
    if (e.target === t.root && (e.key === 'Enter' || e.key === ' ')) {
      e.preventDefault();
      openDetail(id);
    }
  });
  tiles.set(id, t);
  return t;
}

function figureRows(s) {
  const st = s.stats ?? {};
  const rows = [
    ['node', (s.node_id ?? '') + (s.local ? ' (this one)' : '')],
    ['input', [st.codec, st.width ? `${st.width}x${st.height}` : '', st.frame_rate ? `${st.frame_rate.toFixed(2)} fps` : '']
      .filter(Boolean).join(' ') || '–'],
    ['bitrate', fmtRate(st.bitrate_bps)],
    ['loss', st.packets ? `${st.packets_lost} lost, ${st.packets_retransmitted} resent of ${st.packets}` : '–'],
  ];
  if (s.peer) rows.push(['caller', s.peer + (s.rtt_ms !== undefined ? `, RTT ${s.rtt_ms.toFixed(1)} ms` : '')]);
  if (s.viewers) rows.push(['viewers', `${s.viewers.http1} HTTP/1.1, ${s.viewers.http2} HTTP/2, ${s.viewers.http3} HTTP/3`]);
  if (s.live_lag_s !== undefined) rows.push(['glass to glass', `≈ ${s.live_lag_s.toFixed(2)} s`]);
  if (s.renditions?.length)
    rows.push(['renditions', s.renditions.map((r) => r.name + (r.bandwidth ? ' ' + fmtRate(r.bandwidth) : '')).join(', ')]);
  if (s.dvr) {
    const d = s.dvr;
    const span = d.seconds >= 3600 ? (d.seconds / 3600).toFixed(1) + ' h' : Math.round(d.seconds / 60) + ' min';
    rows.push(['DVR', d.seconds ? `${span} recorded, ${d.upload_backlog} to upload` : 'nothing yet']);
  }
  if (s.transcode) rows.push(['transcode', `${s.transcode.hardware}, lag ${Math.round(s.transcode.lag_ms)} ms`]);
  return rows;
}

function renderTile(id) {
  const s = streams.get(id);
  if (!s) return;
  const t = tiles.get(id) ?? makeTile(id);
  if (!t.root.isConnected) {
    $('tiles').querySelector('.empty')?.remove();
    $('tiles').append(t.root);
  }
  t.state.textContent = s.state;
  t.state.className = 'state ' + s.state;
  t.figures.replaceChildren(...figureRows(s).flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]));
  t.line.setAttribute('points', sparkline(history.get(id) ?? []));
  t.message.textContent = s.message ?? '';
  t.pause.textContent = s.state === 'paused' ? 'Resume' : 'Pause';
  t.pause.disabled = !s.local;
  t.drop.hidden = !s.peer;
  t.stop.disabled = !s.local;
}

// Thumbnails follow the updates: a new one once the last has loaded.
function refreshThumb(id) {
  const s = streams.get(id);
  const t = tiles.get(id);
  if (!s || !t || !s.local || !s.transcode || document.hidden || t.loading) return;
  t.loading = true;
  const img = new Image();
  img.alt = 'stream ' + id;
  img.className = 'thumb';
  img.onload = () => { t.loading = false; t.thumb.replaceWith(img); t.thumb = img; };
  img.onerror = () => { t.loading = false; };
  img.src = streamPath(id) + '/thumbnail.jpg?t=' + Date.now();
}

function removeTile(id) {
  tiles.get(id)?.root.remove();
  tiles.delete(id);
  streams.delete(id);
  history.delete(id);
  if (!streams.size) $('tiles').replaceChildren(el('p', { class: 'empty', text: 'No streams yet.' }));
  if (openId === id) closeDetail();
}

function record(id) {
  const h = history.get(id) ?? [];
  h.push(streams.get(id)?.stats?.bitrate_bps ?? 0);
  if (h.length > HISTORY) h.shift();
  history.set(id, h);
}

function showOrigin(o) {
  origin = { ...origin, ...o };
  $('tcp').textContent = origin.tcp_connections ?? 0;
  $('quic').textContent = origin.quic_connections ?? 0;
  $('held').textContent = origin.held_requests ?? 0;
}

async function readHealth() {
  try {
    const h = await (await fetch('/health')).json();
    $('health').textContent = h.status;
    $('node').textContent = h.node_id;
  } catch (e) {
    $('health').textContent = 'unreachable';
  }
}

// ------------------------------------------------------------ detail

function renderEvents(id) {
  $('events').replaceChildren(...(eventLog.get(id) ?? []).slice().reverse()
    .map((e) => el('li', { text: `${e.time} ${e.text}` })));
}

function openDetail(id) {
  const s = streams.get(id);
  if (!s) return;
  openId = id;
  const host = location.hostname.includes(':') ? `[${location.hostname}]` : location.hostname;
  const http = `http://${host}:${origin.http_port}`;
  const https = `https://${host}:${origin.https_port}`;
  const live = `/live/${encodeURIComponent(id)}/`;
  $('detail-title').textContent = id;
  $('player').src = `${http}/?stream=${encodeURIComponent(id)}`;
  const urls = [`${https}${live}index.m3u8`, `${http}${live}index.m3u8`,
    ...(s.renditions ?? []).map((r) => `${http}${live}${r.name}.m3u8`)];
  $('urls').replaceChildren(...urls.map((u) => el('li', {}, el('a', { href: u, text: u }))));
  $('pipeline').textContent = s.local ? `${s.pipeline} (${s.pipeline_state}), up ${Math.round(s.uptime_ms / 1000)} s, `
    + `${s.pipeline_restarts} restarts${s.message ? ' — ' + s.message : ''}` : `on node ${s.node_id}`;
  // The recording's actions: links to the Origin's time-shifted playlists
  // and clips (plain GETs, see README "Recording").
  const d = s.dvr;
  $('dvr-actions').hidden = !(d && d.seconds > 0);
  if (d && d.seconds > 0) {
    const now = Math.floor(Date.now() / 1000);
    const from = Math.max(now - 300, Math.floor(Date.parse(d.start) / 1000));
    $('dvr-summary').textContent = `${Math.round(d.seconds)} s recorded since ${d.start}, ${d.upload_backlog} periods to upload`;
    $('dvr-shift').href = `${http}/?stream=${encodeURIComponent(id)}&start=${from}`;
    $('dvr-clip').href = `${http}${live}clip.mp4?start=${now - 60}&end=${now}`;
    $('dvr-vod').href = `${http}${d.vod}`;
  }
  renderEvents(id);
  $('log').replaceChildren();
  $('description').textContent = '';
  if (s.local) readLog(id);
  $('detail').hidden = false;
  $('detail-close').focus();
}

// The description the stream runs (secrets masked) and what mirrord logged
// about it lately, newest first; read once when the detail opens (the
// events above follow it live).
async function readLog(id) {
  try {
    const doc = await (await fetch(streamPath(id))).json();
    if (openId !== id) return;
    $('description').textContent = doc.description ?? '';
    $('log').replaceChildren(...(doc.log ?? []).slice().reverse()
      .map((l) => el('li', { class: l.level, text: `${l.time.slice(11, 23)} ${l.level} ${l.message}` })));
  } catch (e) { /* the events still show */ }
}

function closeDetail() {
  $('detail').hidden = true;
  $('player').src = 'about:blank';
  const tile = tiles.get(openId)?.root;
  openId = null;
  tile?.focus();
}

// ------------------------------------------------------------ events

function connect() {
  const es = new EventSource('/api/v1/events');
  const on = (name, fn) => es.addEventListener(name, (e) => fn(JSON.parse(e.data)));
  es.onopen = () => { $('link').textContent = 'live'; $('link').className = ''; };
  // EventSource reconnects by itself (retry: 1000); the next snapshot
  // replaces everything.
  es.onerror = () => { $('link').textContent = 'reconnecting…'; $('link').className = 'down'; };
  on('snapshot', (d) => {
    showOrigin(d.origin);
    $('node').textContent = d.node_id;
    for (const id of [...streams.keys()]) if (!d.streams.some((s) => s.id === id)) removeTile(id);
    for (const s of d.streams) {
      streams.set(s.id, s);
      record(s.id);
      renderTile(s.id);
      refreshThumb(s.id);
    }
    readHealth();
  });
  on('update', (d) => {
    updates++;
    showOrigin(d.origin);
    for (const delta of d.streams) {
      const s = streams.get(delta.id);
      if (s) Object.assign(s, delta);
    }
    for (const id of streams.keys()) {
      record(id);
      renderTile(id);
      refreshThumb(id);
    }
  });
  on('stream-added', (s) => {
    streams.set(s.id, s);
    record(s.id);
    renderTile(s.id);
    logEvent(s.id, 'added');
  });
  on('stream-removed', (d) => {
    logEvent(d.id, 'removed');
    removeTile(d.id);
  });
  on('state-changed', (d) => {
    const s = streams.get(d.id);
    if (s) { s.state = d.to; s.message = d.message; renderTile(d.id); }
    logEvent(d.id, `${d.from} → ${d.to}${d.message ? ': ' + d.message : ''}`);
    readHealth();
  });
  on('alarm', (d) => logEvent(d.id, `ALARM ${d.state}${d.message ? ': ' + d.message : ''}`));
}

$('start-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const id = $('start-id').value.trim();
  control('POST', '/api/v1/streams', { id, pipeline: 'testsrc' });
});
$('token-button').addEventListener('click', () => askToken());
$('detail-close').addEventListener('click', closeDetail);
document.addEventListener('keydown', (e) => { if (e.key === 'Escape' && openId) closeDetail(); });

// For tests and the curious.
window.mirrorConsole = {
  streams: () => Object.fromEntries(streams),
  updates: () => updates,
};

connect();
