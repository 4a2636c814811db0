/* global document, window, sessionStorage, history, location, fetch, URL, URLSearchParams, setTimeout, clearTimeout */
/**
 * The lake dashboard: plain ES module served as committed (services/dashboard/routes.ts), no
 * framework, no bundler, no CDN. Why plain JavaScript and no build step: the page is a few
 * hundred lines of fetch-and-render over the /v1/lake JSON routes; a bundled front end would add
 * a build tool and a dist/ step to the server for no feature the page needs, and this file runs
 * in the browser exactly as it is reviewed.
 *
 * The API key (a `read` key is enough; the review queue count needs `write`) comes from the URL
 * fragment `#key=…` (never sent to the server), `?key=…` (its request is not logged, see
 * routes.ts), or the form; it is kept in sessionStorage only and removed from the address bar.
 */
const KEY_STORE = 'captionflow.apiKey';
const POLL_MS = Number(new URLSearchParams(location.search).get('poll') ?? '5000') || 5000;
const $ = (id) => document.getElementById(id);

function takeKeyFromUrl() {
  const url = new URL(location.href);
  const hash = new URLSearchParams(url.hash.replace(/^#/, ''));
  const key = url.searchParams.get('key') ?? hash.get('key');
  if (key) {
    sessionStorage.setItem(KEY_STORE, key);
    url.searchParams.delete('key');
    hash.delete('key');
    url.hash = hash.toString();
    history.replaceState(null, '', url.toString());
  }
}

const apiKey = () => sessionStorage.getItem(KEY_STORE) ?? '';

async function api(path) {
  const res = await fetch(path, { headers: { 'x-api-key': apiKey() }, cache: 'no-store' });
  if (!res.ok) {
    let message = `${res.status}`;
    try {
      const body = await res.json();
      message = `${res.status} ${body?.error?.code ?? ''}: ${body?.error?.message ?? ''}`;
    } catch {
      /* not JSON */
    }
    const err = new Error(message);
    err.status = res.status;
    throw err;
  }
  return res;
}
const json = async (path) => (await api(path)).json();

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') node.textContent = v;
    else if (k.startsWith('data-')) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) node.append(c);
  return node;
}

/** Fill a two-column table with `{ name: count }`, every count cell tagged `data-count="<group>:<name>"`. */
function fillCounts(table, counts) {
  const group = table.dataset.group;
  const rows = Object.entries(counts ?? {}).sort(([a], [b]) => a.localeCompare(b));
  if (rows.length === 0) {
    table.replaceChildren(el('tr', {}, el('td', { text: 'none', className: 'empty' })));
    return;
  }
  table.replaceChildren(
    ...rows.map(([name, n]) =>
      el('tr', {}, el('th', { text: name }), el('td', { text: String(n), 'data-count': `${group}:${name}` })),
    ),
  );
}

// Thumbnails need the key header, so they are fetched and shown as blob URLs (kept per item).
const thumbs = new Map();
async function thumbnail(id, variant = 'thumbnail') {
  const cacheKey = `${id}:${variant}`;
  if (!thumbs.has(cacheKey)) {
    thumbs.set(
      cacheKey,
      api(`/v1/lake/items/${id}/image?variant=${variant}`)
        // An item without a thumbnail in its lineage: show its model input, scaled by CSS.
        .catch((err) =>
          variant === 'thumbnail' && err.status === 404
            ? api(`/v1/lake/items/${id}/image?variant=model-input`)
            : Promise.reject(err),
        )
        .then((r) => r.blob())
        .then((b) => URL.createObjectURL(b))
        .catch(() => ''),
    );
  }
  return thumbs.get(cacheKey);
}

function captionLine(c) {
  return el(
    'p',
    {},
    el('span', { className: 'origin', text: `${c.origin}${c.modelVersion ? ` ${c.modelVersion}` : ''}: ` }),
    c.text,
  );
}

async function renderGallery(items) {
  const list = $('gallery');
  const seen = [...list.children].map((li) => li.dataset.id).join(',');
  if (seen === items.map((i) => i.id).join(',')) return; // unchanged: keep images and focus
  list.replaceChildren(
    ...items.map((item) => {
      const img = el('img', { alt: item.captions?.[0]?.text ?? 'gold image', loading: 'lazy' });
      void thumbnail(item.id).then((src) => (img.src = src));
      const human = item.captions?.find((c) => c.origin === 'human');
      const machine = item.captions?.find((c) => c.origin === 'machine');
      const button = el(
        'button',
        { type: 'button', 'data-id': item.id },
        img,
        ...[human, machine].filter(Boolean).map(captionLine),
      );
      button.addEventListener('click', () => void showDetail(item.id));
      const li = el('li', { 'data-id': item.id }, button);
      return li;
    }),
  );
  if (items.length === 0) list.replaceChildren(el('li', { text: 'no gold images yet' }));
}

async function showDetail(id) {
  const item = await json(`/v1/lake/items/${id}`);
  $('detail-id').textContent = item.id;
  $('detail-image').src = await thumbnail(id, 'model-input');
  const hops = item.lineage?.report?.hops ?? item.lineage?.hops ?? [];
  $('detail-body').replaceChildren(
    el(
      'table',
      {},
      ...[
        ['layer', item.layer],
        ['status', item.status],
        ['split', item.split ?? 'none'],
        ['source', item.source],
        ['size', `${item.width}×${item.height} ${item.format}`],
        ['quality', item.quality ?? '–'],
        ['updated', item.updatedAt],
      ].map(([k, v]) => el('tr', {}, el('th', { text: k }), el('td', { text: String(v), 'data-field': k }))),
    ),
    el('h3', { text: `Captions (${item.captions?.length ?? 0})` }),
    el('ul', { id: 'detail-captions' }, ...(item.captions ?? []).map((c) => el('li', {}, captionLine(c)))),
    el('h3', { text: `Lineage (${hops.length} hops)` }),
    el(
      'ul',
      {},
      ...hops.map((h) => el('li', { text: `${h.topology ?? ''} ${h.step ?? ''} ${h.at ?? ''}`.trim() })),
    ),
    el('h3', { text: `Dead letters (${item.deadLetters?.length ?? 0})` }),
    el(
      'ul',
      {},
      ...(item.deadLetters ?? []).map((d) => el('li', { text: `${d.errorCode}: ${d.errorMessage}` })),
    ),
  );
  $('detail').hidden = false;
  $('detail').scrollIntoView({ block: 'nearest' });
}

// Models: versions with their scores and aliases, the promotion history, a version's report.
const fixed = (x, digits) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(digits) : '–');
let shownModels = '';
let reportShown = null;

function renderModels(models) {
  const key = JSON.stringify(models);
  if (key === shownModels) return; // unchanged: keep focus and the open report
  shownModels = key;
  $('model-name').textContent = models.model;
  const head = el(
    'tr',
    {},
    ...['version', 'aliases', 'source', 'status', 'CIDEr-D', 'BLEU-4', 'created'].map((h) =>
      el('th', { text: h }),
    ),
  );
  const rows = models.versions.map((v) => {
    const name = v.report
      ? el('button', { type: 'button', className: 'link', text: v.version, 'data-report': v.version })
      : v.version;
    if (v.report) name.addEventListener('click', () => void showReport(v.version));
    return el(
      'tr',
      { 'data-model-version': v.version },
      el('td', {}, name),
      el(
        'td',
        { 'data-field': 'aliases' },
        ...v.aliases.map((a) => el('span', { className: 'alias', text: a })),
      ),
      el('td', { text: v.source }),
      el('td', { text: v.status, 'data-field': 'status' }),
      el('td', { text: fixed(v.metrics.ciderD, 3), 'data-field': 'ciderD' }),
      el('td', { text: fixed(v.metrics.bleu4, 4), 'data-field': 'bleu4' }),
      el('td', { text: v.createdAt.replace('T', ' ').slice(0, 19) }),
    );
  });
  $('model-versions').replaceChildren(
    ...(rows.length === 0
      ? [el('tr', {}, el('td', { text: 'no model versions yet', className: 'empty' }))]
      : [head, ...rows]),
  );
  const describe = (h) =>
    h.event === 'alias'
      ? `${h.alias}: ${h.previous ?? '(none)'} → ${h.version}`
      : h.event === 'registered'
        ? `registered ${h.version}`
        : `${h.event} ${h.version}${h.previous ? ` (champion was ${h.previous})` : ''}${h.reason ? ` — ${h.reason}` : ''}`;
  $('model-history').replaceChildren(
    ...models.history.map((h) =>
      el(
        'li',
        { 'data-event': h.event, 'data-version': h.version },
        el('time', { text: `${h.at.replace('T', ' ').slice(0, 19)} ` }),
        describe(h),
      ),
    ),
  );
  // Open the champion's report once, when it has one.
  if (reportShown === null) {
    const champion = models.versions.find((v) => v.aliases.includes('champion') && v.report);
    if (champion) void showReport(champion.version);
  }
}

function captionItem(c) {
  return el(
    'li',
    { 'data-image': c.imageId },
    el('span', { text: `CIDEr-D ${fixed(c.ciderD, 3)} · generated: ` }),
    el('strong', { text: c.hypothesis }),
    el('ul', { className: 'refs' }, ...c.references.map((r) => el('li', { text: `reference: ${r}` }))),
  );
}

async function showReport(version) {
  reportShown = version;
  let report;
  try {
    report = await json(`/v1/lake/models/${encodeURIComponent(version)}/report`);
  } catch (err) {
    $('report-version').textContent = version;
    $('report-summary').textContent = `no report: ${err.message}`;
    $('model-report').hidden = false;
    return;
  }
  $('report-version').textContent = version;
  const o = report.overall ?? {};
  $('report-summary').textContent =
    `${report.n} images of ${report.datasetId} (${report.split}) · CIDEr-D ${fixed(o.ciderD, 3)} · BLEU-4 ${fixed(o.bleu4, 4)}` +
    ` · ROUGE-L ${fixed(o.rougeL, 4)}${report.gate ? ` · gate: ${report.gate.status}` : ''}`;
  const concepts = [];
  for (const [kind, values] of Object.entries(report.byConcept ?? {}))
    for (const [value, s] of Object.entries(values)) concepts.push({ kind, value, ...s });
  $('report-concepts').replaceChildren(
    el('tr', {}, ...['concept', 'n', 'CIDEr-D', 'BLEU-4', 'named'].map((h) => el('th', { text: h }))),
    ...concepts.map((c) =>
      el(
        'tr',
        { 'data-concept': `${c.kind}:${c.value}` },
        el('td', { text: `${c.kind}: ${c.value}` }),
        el('td', { text: String(c.n) }),
        el('td', { text: fixed(c.ciderD, 3) }),
        el('td', { text: fixed(c.bleu4, 4) }),
        el('td', { text: `${Math.round((c.named ?? 0) * 100)}%` }),
      ),
    ),
  );
  $('report-worst').replaceChildren(...(report.worst ?? []).map(captionItem));
  $('report-samples').replaceChildren(...(report.samples ?? []).map(captionItem));
  $('model-report').hidden = false;
}

function setStatus(text, error = false) {
  $('status').textContent = text;
  $('status').classList.toggle('error', error);
}

let timer;
async function refresh() {
  clearTimeout(timer);
  if (!apiKey()) {
    setStatus('Enter an API key with the read role to see the lake.');
    return;
  }
  try {
    const [summary, gold] = await Promise.all([
      json('/v1/lake/summary'),
      json('/v1/lake/items?layer=gold&sort=-id&limit=12'),
    ]);
    fillCounts($('layers'), summary.layers);
    fillCounts($('statuses'), summary.statuses);
    fillCounts($('splits'), summary.splits);
    fillCounts($('sources'), summary.sources);
    fillCounts($('dead-letters'), summary.deadLetters);
    $('dataset-versions').textContent = String(summary.datasetVersions);
    try {
      const queue = await json('/v1/review/queue?limit=100');
      $('review-queue').textContent = `${queue.items.length}${queue.next ? '+' : ''}`;
    } catch (err) {
      $('review-queue').textContent = err.status === 403 ? 'needs a write key' : '–';
    }
    try {
      renderModels(await json('/v1/lake/models'));
    } catch {
      $('model-versions').replaceChildren(
        el('tr', {}, el('td', { text: 'models unavailable', className: 'empty' })),
      );
      shownModels = '';
    }
    await renderGallery(gold.items);
    document.body.dataset.loaded = 'true';
    setStatus(`updated ${new Date().toLocaleTimeString()} · refreshing every ${POLL_MS / 1000}s`);
  } catch (err) {
    setStatus(`could not load the lake: ${err.message}`, true);
  }
  timer = setTimeout(() => void refresh(), POLL_MS);
}

takeKeyFromUrl();
$('key-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const key = $('key').value.trim();
  $('key').value = '';
  if (key) sessionStorage.setItem(KEY_STORE, key);
  void refresh();
});
$('forget').addEventListener('click', () => {
  sessionStorage.removeItem(KEY_STORE);
  void refresh();
});
$('detail-close').addEventListener('click', () => ($('detail').hidden = true));
window.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') void refresh();
});
void refresh();
