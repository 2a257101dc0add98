// End to end: trialbook serve and a real JupyterLab on loopback, the panel
// installed by `trialbook lab install` from the binary, headless Chromium.
// A 3-trial experiment with the built-in agent on scikit-learn's diabetes
// data is created and started from the panel's form; the panel must fill in
// live, open trial notebooks, survive a reload, refuse bad tokens and
// foreign origins, and show appended events within a measured latency.
//
// Screenshots go to test-artifacts/extension-e2e/.

import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { chromium } from 'playwright-core';

import * as H from './harness.mjs';

const TRIALS = 3;
const LATENCY_SAMPLES = 60;

const pageErrors = [];
let tmp, root, prefix, sport, serveUrl, serveToken, jport, jtoken, browser, page;
const runtimeEnv = () => ({ XDG_RUNTIME_DIR: join(tmp, 'run') });

function startServe(extra = []) {
  return H.start(
    'trialbook serve',
    H.trialbookBin,
    ['serve', '--root', root, '--addr', `127.0.0.1:${sport}`, '--allow-origin', `http://127.0.0.1:${jport}`, ...extra],
    { env: runtimeEnv(), ready: /(http:\/\/127\.0\.0\.1:\d+)\/\?token=(\w+)/ }
  );
}

/** POSTs a verb to the service as a script would (no Origin). */
function control(id, verb) {
  return fetch(`${serveUrl}/api/experiments/${encodeURIComponent(id)}/${verb}`, {
    method: 'POST',
    headers: { Authorization: `token ${serveToken}` }
  });
}

function labUrl(path = 'lab') {
  return `http://127.0.0.1:${jport}/${path}?token=${jtoken}`;
}

async function shot(name) {
  await page.screenshot({ path: join(H.artifacts, `${name}.png`) });
}

const panel = () => page.locator('#trialbook-panel');
const fact = name => panel().locator(`[data-tb="${name}"]`);

async function openPanel() {
  const tab = page.locator('.jp-SideBar.jp-mod-right li[role=tab][data-id="trialbook-panel"]');
  await tab.waitFor({ timeout: 60000 });
  // The layout restorer may still be opening and closing sidebars: click
  // until the panel shows.
  await page.locator('#jupyterlab-splash').waitFor({ state: 'detached', timeout: 60000 });
  const deadline = Date.now() + 30000;
  let steady = 0; // the panel must stay visible for a few checks in a row
  while (steady < 3) {
    assert.ok(Date.now() < deadline, 'the Trialbook panel did not stay open');
    if (await panel().isVisible()) {
      steady++;
    } else {
      steady = 0;
      await tab.click();
    }
    await page.waitForTimeout(200);
  }
}

async function linkState() {
  return panel().getByRole('status', { name: 'Connection' }).getAttribute('data-state');
}

before(async () => {
  H.requireParts();
  mkdirSync(H.artifacts, { recursive: true });
  tmp = H.tempDir();
  root = join(tmp, 'root');
  prefix = join(tmp, 'prefix');
  mkdirSync(root);
  mkdirSync(prefix);
  H.writeDiabetesCsv(join(root, 'data', 'diabetes.csv'));

  sport = await H.freePort();
  jport = await H.freePort();
  jtoken = 'e2e-' + Math.random().toString(16).slice(2);
  // Both serve and lab install see this runtime dir: lab install finds the
  // service's URL and token in serve's runtime file, as it would for a user.
  const serve = await startServe();
  serveUrl = serve.match[1];
  serveToken = serve.match[2];

  const out = H.run(H.trialbookBin, ['lab', 'install', '--prefix', prefix], { env: runtimeEnv() });
  assert.match(out, /panel settings \(service http:\/\/127\.0\.0\.1:\d+, token from the runtime file/);

  await H.startJupyterLab({ tmp, root, prefix, port: jport, token: jtoken });

  browser = await chromium.launch({ executablePath: H.chromiumPath, args: H.chromiumArgs });
  page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  // Other extensions in .venv may fail to load (catboost's widget wants
  // ipywidgets); errors raised by this one fail the last test.
  page.on('pageerror', err => pageErrors.push(`${err.message}\n${err.stack ?? ''}`));
  page.on('console', m => {
    if (m.type() === 'error') pageErrors.push(`console: ${m.text()}\n${m.location().url}`);
  });
});

after(async () => {
  // Runs started from the panel outlive serve by design: stop them here.
  for (const id of ['diabetes', 'stop-resume']) {
    await control(id, 'stop').catch(() => undefined);
  }
  await browser?.close();
  await H.stopAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('the panel connects with the settings lab install wrote', async () => {
  await page.goto(labUrl());
  await openPanel();
  await assert.doesNotReject(
    panel().locator('[data-state="connected"]').waitFor({ timeout: 30000 }),
    'the panel did not connect'
  );
  await shot('01-connected');
});

test('a 3-trial experiment made with the form fills the panel in live', async () => {
  await panel().getByRole('button', { name: 'New experiment' }).click();
  const form = panel().getByRole('region', { name: 'New experiment' });
  await form.getByLabel('Name').fill('diabetes');
  await form.getByLabel('Data file').fill('data/diabetes.csv');
  await form.getByLabel('Target column').fill('no_such_column');
  await form.getByLabel('Task').selectOption('regression');
  await form.getByLabel('Trials').fill(String(TRIALS));
  await form.getByLabel('Context').fill('Diabetes progression one year after baseline (scikit-learn).');
  await form.getByRole('button', { name: 'Review AGENTS.md' }).click();

  // A wrong field: the service's message shows and nothing typed is lost.
  const alert = form.getByRole('alert');
  await page.waitForFunction(
    () => /no_such_column/.test(document.querySelector('#trialbook-panel .tb-New [role=alert]')?.textContent ?? ''),
    null,
    { timeout: 60000 }
  );
  assert.match(await alert.innerText(), /400/);
  assert.equal(await form.getByLabel('Data file').inputValue(), 'data/diabetes.csv');
  assert.equal(await form.getByLabel('Target column').getAttribute('aria-invalid'), 'true', 'the field at fault is marked');
  await shot('02-form-error');

  await form.getByLabel('Target column').fill('target');
  await form.getByRole('button', { name: 'Review AGENTS.md' }).click();

  const md = form.getByLabel('AGENTS.md');
  await md.waitFor({ timeout: 60000 });
  assert.match(await md.innerText(), /target/);
  await shot('02-review-agents-md');
  // Record every done count the panel shows, to see it move one trial at a time.
  await page.evaluate(() => {
    const seen = (window.__tbDone = []);
    new MutationObserver(() => {
      const d = document.querySelector('#trialbook-panel [data-tb="trials"]')?.getAttribute('data-done');
      if (d !== undefined && d !== null && seen.at(-1) !== d) seen.push(d);
    }).observe(document.querySelector('#trialbook-panel'), { childList: true, subtree: true, attributes: true });
  });
  await form.getByRole('button', { name: 'Open in a tab' }).click();
  await page.locator('.jp-RenderedMarkdown:visible h1').first().waitFor({ timeout: 30000 });
  assert.match(await page.locator('.lm-DockPanel-tabBar .lm-mod-current .lm-TabBar-tabLabel').innerText(), /AGENTS\.md/);
  await form.getByRole('button', { name: 'Start' }).click();

  // Live: a running trial with its current cell shows up before the end.
  const running = panel().getByRole('region', { name: 'Running trials' });
  await running.waitFor({ timeout: 120000 });
  assert.match(await running.innerText(), /#\d+/);
  await shot('03-running');

  await page.waitForFunction(
    n => {
      const el = document.querySelector('#trialbook-panel [data-tb="trials"]');
      const st = document.querySelector('#trialbook-panel [data-tb="status"]');
      return el && Number(el.getAttribute('data-done')) === n && st && /finished/.test(st.textContent ?? '');
    },
    TRIALS,
    { timeout: 600000, polling: 250 }
  );
  await shot('04-finished');

  const events = H.readJournal(join(root, 'diabetes', 'journal.jsonl'));
  const decisions = events.filter(e => e.type === 'trial.kept' || e.type === 'trial.discarded');
  const bestTrial = decisions.at(-1)?.best;
  assert.ok(bestTrial, 'the journal names a best trial');
  const scored = events.filter(e => e.trial === bestTrial && e.score);
  const bestCV = scored.at(-1).score.cv;
  assert.equal(Number(await fact('best-cv').getAttribute('data-value')), bestCV, 'best CV = the journal’s');
  assert.equal(Number(await fact('trials').getAttribute('data-total')), TRIALS);
  const rows = panel().getByRole('table', { name: 'Trials' }).locator('tbody tr');
  assert.equal(await rows.count(), TRIALS);
  const doneSeen = await page.evaluate(() => window.__tbDone);
  assert.deepEqual(doneSeen.filter(d => d !== '0'), ['1', '2', '3'], `done counts shown: ${doneSeen}`);
  // The built-in agent spends no tokens: no usage columns, no usage line.
  assert.equal(await panel().getByRole('table', { name: 'Trials' }).getByRole('button', { name: /^Usage/ }).count(), 0);
  assert.equal(await fact('usage').count(), 0);
  // The ensemble, when the harness built one, as the journal's last says.
  const ens = events.filter(e => e.type === 'ensemble.updated').at(-1);
  if (ens) {
    assert.equal(Number(await fact('ensemble-cv').getAttribute('data-value')), ens.score.cv);
    assert.equal(await fact('ensemble').getAttribute('data-used'), ens.data?.used ? 'used' : 'not used');
  } else {
    assert.equal(await fact('ensemble').count(), 0);
  }

  // The best trial's link opens its notebook.
  const bestNotebook = events.find(e => e.trial === bestTrial && e.notebook)?.notebook;
  await panel().getByRole('region', { name: 'Best trial' }).getByRole('link').first().click();
  await page.waitForFunction(
    name => document.querySelector('.lm-DockPanel-tabBar .lm-mod-current .lm-TabBar-tabLabel')?.textContent === name,
    bestNotebook.split('/').at(-1),
    { timeout: 60000 }
  );
});

test('sorting the table and opening a trial notebook from it', async () => {
  const table = panel().getByRole('table', { name: 'Trials' });
  await table.getByRole('button', { name: /^#/ }).click();
  const first = await table.locator('tbody tr').first().getAttribute('data-trial');
  assert.equal(first, '1', 'sorted by trial number, ascending');
  await table.getByRole('button', { name: /^#/ }).click();
  assert.equal(await table.locator('tbody tr').first().getAttribute('data-trial'), String(TRIALS));

  await table.locator('tbody tr[data-trial="1"]').click();
  await page.waitForFunction(
    () => /^001-.*\.ipynb$/.test(document.querySelector('.lm-DockPanel-tabBar .lm-mod-current .lm-TabBar-tabLabel')?.textContent ?? ''),
    null,
    { timeout: 60000 }
  );
  const nb = page.locator('.jp-NotebookPanel:visible');
  await nb.waitFor({ timeout: 60000 });
  // The saved outputs of the trial's cells render.
  await nb.locator('.jp-OutputArea-output').first().waitFor({ timeout: 60000 });
  assert.ok((await nb.locator('.jp-OutputArea-output').count()) > 0);
  // Opened, not touched: the tab is not modified. JupyterLab rewrites the
  // notebook's kernelspec and language_info once its kernel is ready, so look
  // after that, and keep looking for a while.
  await nb.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').waitFor({ timeout: 60000 });
  const dirty = () => document.querySelector('.lm-DockPanel-tabBar .lm-mod-current')?.classList.contains('jp-mod-dirty');
  assert.equal(await page.evaluate(dirty), false, 'the trial notebook opened as modified');
  await assert.rejects(
    page.waitForFunction(dirty, null, { timeout: 3000, polling: 100 }),
    /Timeout/,
    'the trial notebook became modified after its kernel started'
  );
  await shot('05-trial-notebook');
});

test('a reload shows the same state', async () => {
  const before = {
    trials: await fact('trials').innerText(),
    best: await fact('best-cv').getAttribute('data-value'),
    rows: await panel().locator('tbody tr').count()
  };
  await page.reload();
  await openPanel();
  await fact('best-cv').waitFor({ timeout: 30000 });
  const afterReload = {
    trials: await fact('trials').innerText(),
    best: await fact('best-cv').getAttribute('data-value'),
    rows: await panel().locator('tbody tr').count()
  };
  assert.deepEqual(afterReload, before);
  await shot('06-after-reload');
});

test('stop and resume from the panel', async () => {
  const created = await fetch(`${serveUrl}/api/experiments`, {
    method: 'POST',
    headers: { Authorization: `token ${serveToken}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: 'stop-resume', data: 'data/diabetes.csv', target: 'target', task: 'regression', trials: 20, featureResearch: false, explain: false })
  });
  assert.equal(created.status, 201, await created.text());
  const select = panel().getByLabel('Experiment', { exact: true });
  await page.waitForFunction(() =>
    [...document.querySelectorAll('#trialbook-panel select[aria-label="Experiment"] option')].some(o => o.value === 'stop-resume')
  , null, { timeout: 30000 });
  await select.selectOption('stop-resume');
  const status = panel().getByRole('region', { name: 'Status' });
  const button = name => status.getByRole('button', { name, exact: true });
  const statusIs = st =>
    page.waitForFunction(
      want => document.querySelector('#trialbook-panel [data-tb="status"] .tb-Badge')?.textContent === want,
      st,
      { timeout: 120000, polling: 100 }
    );

  await statusIs('created');
  assert.ok(await button('Start').isEnabled());
  assert.ok(await button('Resume').isDisabled());
  await button('Start').click();
  await panel().getByRole('region', { name: 'Running trials' }).waitFor({ timeout: 120000 });
  await button('Stop').waitFor({ state: 'visible' });
  await page.waitForFunction(() => {
    const b = [...document.querySelectorAll('#trialbook-panel button')].find(x => x.textContent === 'Stop');
    return b && !b.disabled;
  }, null, { timeout: 30000 });
  await button('Stop').click();
  await statusIs('paused');
  await page.waitForFunction(() => {
    const b = [...document.querySelectorAll('#trialbook-panel button')].find(x => x.textContent === 'Resume');
    return b && !b.disabled;
  }, null, { timeout: 60000 });
  await shot('07-paused');

  await button('Resume').click();
  await statusIs('running');
  await page.waitForFunction(() => {
    const b = [...document.querySelectorAll('#trialbook-panel button')].find(x => x.textContent === 'Stop');
    return b && !b.disabled;
  }, null, { timeout: 60000 });
  await button('Stop').click();
  await statusIs('paused');
  const events = H.readJournal(join(root, 'stop-resume', 'journal.jsonl')).map(e => e.type);
  assert.ok(events.includes('experiment.resumed'), 'the journal shows the resume');
  assert.equal(events.filter(t => t === 'experiment.paused').length, 2);
});

test('no token or a wrong one is refused', async () => {
  const noToken = await fetch(`${serveUrl}/api/experiments`);
  assert.equal(noToken.status, 401);
  const wrong = await fetch(`${serveUrl}/api/experiments`, { headers: { Authorization: 'token nope' } });
  assert.equal(wrong.status, 401);

  // The panel says so when given a wrong token, and recovers with the right one.
  await panel().getByRole('button', { name: 'Connection…' }).click();
  const connect = panel().getByRole('form', { name: 'Connect to trialbook serve' });
  await connect.getByLabel('Service URL with token').fill(`${serveUrl}/?token=wrong`);
  await connect.getByRole('button', { name: 'Connect' }).click();
  await panel().locator('[data-state="refused"]').waitFor({ timeout: 30000 });
  await shot('08-refused');
  await connect.getByLabel('Service URL with token').fill(`${serveUrl}/?token=${serveToken}`);
  await connect.getByRole('button', { name: 'Connect' }).click();
  await panel().locator('[data-state="connected"]').waitFor({ timeout: 30000 });
});

test('a foreign origin is refused, even with the token', async () => {
  const ok = await fetch(`${serveUrl}/api/experiments`, {
    headers: { Authorization: `token ${serveToken}`, Origin: `http://127.0.0.1:${jport}` }
  });
  assert.equal(ok.status, 200);
  const foreign = await fetch(`${serveUrl}/api/experiments`, {
    headers: { Authorization: `token ${serveToken}`, Origin: 'http://evil.example' }
  });
  assert.equal(foreign.status, 403);

  // A page on another origin tries the API and the websocket from the browser.
  const evil = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end('<!doctype html><title>elsewhere</title>');
  });
  await new Promise(res => evil.listen(0, '127.0.0.1', res));
  try {
    const other = await browser.newPage();
    await other.goto(`http://127.0.0.1:${evil.address().port}/`);
    const result = await other.evaluate(
      async ({ url, token }) => {
        let fetched;
        try {
          const r = await fetch(`${url}/api/experiments`, { headers: { Authorization: `token ${token}` } });
          fetched = `status ${r.status}`;
        } catch (err) {
          fetched = 'blocked';
        }
        const ws = await new Promise(resolve => {
          const s = new WebSocket(`${url.replace('http', 'ws')}/api/events?token=${token}`);
          s.onopen = () => resolve('opened');
          s.onmessage = () => resolve('message');
          s.onclose = () => resolve('refused');
        });
        return { fetched, ws };
      },
      { url: serveUrl, token: serveToken }
    );
    assert.equal(result.fetched, 'blocked');
    assert.equal(result.ws, 'refused');
    await other.close();
  } finally {
    evil.close();
  }
});

test('event-to-screen latency: journal append to DOM', async () => {
  // An experiment whose journal this test writes, as `trialbook run` in a
  // terminal would; the service follows it.
  const dir = join(root, 'latency');
  mkdirSync(dir);
  const journal = join(dir, 'journal.jsonl');
  let seq = 0;
  const append = e => {
    seq++;
    appendFileSync(journal, JSON.stringify({ seq, time: new Date().toISOString(), ...e }) + '\n');
  };
  append({
    type: 'experiment.created',
    problem: { name: 'latency', task: 'regression', target: 'y', metric: 'rmse', direction: 'minimize', validation: 'kfold', trials: 1, agent: 'scripted' }
  });
  append({ type: 'experiment.started' });
  append({ type: 'trial.proposed', trial: 1, title: 'probe', notebook: 'trials/001-probe.ipynb' });
  append({ type: 'trial.started', trial: 1, notebook: 'trials/001-probe.ipynb' });
  append({ type: 'cell.started', trial: 1, cell: 1, source: 'print("tick")' });

  const select = panel().getByLabel('Experiment', { exact: true });
  await page.waitForFunction(() =>
    [...document.querySelectorAll('#trialbook-panel select[aria-label="Experiment"] option')].some(o => o.value === 'latency')
  , null, { timeout: 30000 });
  await select.selectOption('latency');
  const output = panel().getByRole('region', { name: 'Running trials' }).getByLabel('Cell output');
  await output.waitFor({ timeout: 30000 });

  // The page stamps the moment the output shows each tick.
  await page.evaluate(() => {
    const seen = (window.__tbSeen = {});
    new MutationObserver(() => {
      const el = document.querySelector('#trialbook-panel .tb-Output');
      const m = el?.textContent?.match(/tick (\d+)$/);
      if (m && !(m[1] in seen)) seen[m[1]] = Date.now();
    }).observe(document.querySelector('#trialbook-panel'), { childList: true, subtree: true, characterData: true });
  });

  const latencies = [];
  let text = '';
  for (let i = 1; i <= LATENCY_SAMPLES; i++) {
    text += `tick ${i}`;
    const t0 = Date.now();
    append({ type: 'cell.output', trial: 1, cell: 1, text });
    await page.waitForFunction(n => window.__tbSeen[n] !== undefined, String(i), { timeout: 10000, polling: 'raf' });
    const t1 = await page.evaluate(n => window.__tbSeen[n], String(i));
    latencies.push(t1 - t0);
    text += '\n';
  }
  const p50 = H.percentile(latencies, 50);
  const p99 = H.percentile(latencies, 99);
  const line = `event-to-screen latency over ${latencies.length} appends: p50 ${p50} ms, p99 ${p99} ms (target p99 < 200 ms)`;
  console.log(line);
  writeFileSync(join(H.artifacts, 'latency.txt'), line + '\n' + latencies.join(' ') + '\n');
  await shot('09-latency-experiment');
  // The target is 200 ms; the bound here leaves room for a loaded CI machine.
  assert.ok(p99 < 1000, line);
  assert.equal(JSON.parse(readFileSync(journal, 'utf8').split('\n').at(-2)).seq, seq);
});

test('the panel reconnects after the service restarts and misses nothing', async () => {
  const journal = join(root, 'latency', 'journal.jsonl');
  const events = H.readJournal(journal);
  let seq = events.at(-1).seq;
  const append = e => {
    seq++;
    appendFileSync(journal, JSON.stringify({ seq, time: new Date().toISOString(), ...e }) + '\n');
  };
  await H.stop('trialbook serve');
  await panel().locator('[data-state="reconnecting"]').waitFor({ timeout: 30000 });
  await shot('10-reconnecting');

  // What happens while the service is down must show once it is back.
  append({ type: 'cell.output', trial: 1, cell: 1, text: 'written while the service was down' });
  const score = { metric: 'rmse', direction: 'minimize', cv: 41.25, cvStd: 1.5, folds: [40, 41, 42.5, 41, 41.75], holdout: 43.5 };
  append({ type: 'trial.finished', trial: 1, score, duration: 2.5 });
  append({ type: 'trial.kept', trial: 1, best: 1, reason: 'the first scored trial sets the bar' });
  append({ type: 'experiment.finished' });

  // The same port and token, as a service restarted with --token would have.
  await startServe(['--token', serveToken]);
  await panel().locator('[data-state="connected"]').waitFor({ timeout: 60000 });
  await fact('best-cv').waitFor({ timeout: 30000 });
  assert.equal(Number(await fact('best-cv').getAttribute('data-value')), score.cv);
  assert.equal(await fact('trials').getAttribute('data-done'), '1');
  const rows = panel().getByRole('table', { name: 'Trials' }).locator('tbody tr');
  assert.equal(await rows.count(), 1, 'no trial twice');
  await shot('11-reconnected');
});

test('an LLM agent\'s tokens and cost, and an ensemble that is used', async () => {
  // journal/testdata/llm-usage.jsonl (the Go and unit tests fold it too), as
  // a finished experiment under the service's root.
  const src = join(H.repo, 'journal', 'testdata', 'llm-usage.jsonl');
  const events = H.readJournal(src);
  mkdirSync(join(root, 'llm-usage'));
  writeFileSync(join(root, 'llm-usage', 'journal.jsonl'), readFileSync(src));
  await page.waitForFunction(() =>
    [...document.querySelectorAll('#trialbook-panel select[aria-label="Experiment"] option')].some(o => o.value === 'llm-usage')
  , null, { timeout: 30000 });
  await panel().getByLabel('Experiment', { exact: true }).selectOption('llm-usage');
  await fact('usage').waitFor({ timeout: 30000 });

  // Each row: the usage of the trial's last event that carries one.
  const table = panel().getByRole('table', { name: 'Trials' });
  await table.getByRole('button', { name: /^Usage/ }).waitFor();
  const trials = [...new Set(events.filter(e => e.trial).map(e => e.trial))];
  assert.equal(await table.locator('tbody tr').count(), trials.length);
  let tokens = 0;
  let cost = 0;
  for (const n of trials) {
    const u = events.filter(e => e.trial === n && e.usage).at(-1).usage;
    const row = table.locator(`tbody tr[data-trial="${n}"]`);
    const cell = row.locator('[data-tb="trial-usage"]');
    assert.equal(Number(await cell.getAttribute('data-tokens')), u.inputTokens + u.outputTokens, `trial ${n} tokens`);
    assert.equal(Number(await cell.getAttribute('data-cost')), u.costUSD, `trial ${n} cost`);
    assert.match(await cell.innerText(), /^\$[\d.]+\s+[\d.]+k? tok$/);
    tokens += u.inputTokens + u.outputTokens;
    cost += u.costUSD;
  }
  assert.equal(Number(await fact('usage').getAttribute('data-tokens')), tokens);
  assert.ok(Math.abs(Number(await fact('usage').getAttribute('data-cost')) - cost) < 1e-9);
  assert.match(await fact('usage').innerText(), /tokens \(.* in, .* out\) · ~\$\d/);

  // Sorting by cost, most expensive first.
  await table.getByRole('button', { name: /^Usage/ }).click();
  await table.getByRole('button', { name: /^Usage/ }).click();
  const costs = await table.locator('tbody [data-tb="trial-usage"]').evaluateAll(tds => tds.map(td => Number(td.getAttribute('data-cost'))));
  assert.deepEqual(costs, [...costs].sort((a, b) => b - a));

  // The Best section: the ensemble's CV and holdout, and that it is used.
  const ens = events.filter(e => e.type === 'ensemble.updated').at(-1);
  assert.equal(Number(await fact('ensemble-cv').getAttribute('data-value')), ens.score.cv);
  assert.equal(Number(await fact('ensemble-holdout').getAttribute('data-value')), ens.score.holdout);
  assert.equal(await fact('ensemble').getAttribute('data-used'), 'used');
  assert.equal(await fact('ensemble-used').innerText(), 'used');
  await panel().getByRole('region', { name: 'Best trial' }).scrollIntoViewIfNeeded();
  await shot('13-llm-usage-ensemble');
  // Clicking Usage scrolled the table sideways to it; back to the titles.
  await panel().locator('.tb-TableScroll').evaluate(el => {
    el.scrollLeft = 0;
  });
  await panel().getByRole('region', { name: 'Trials' }).screenshot({ path: join(H.artifacts, '14-llm-usage-table.png') });
});

test('dark theme', async () => {
  H.setTheme(join(tmp, 'lab-user-settings'), 'JupyterLab Dark');
  await page.reload();
  await openPanel();
  await page.waitForFunction(() => document.body.dataset.jpThemeLight === 'false', null, { timeout: 30000 });
  await panel().getByLabel('Experiment', { exact: true }).selectOption('diabetes');
  await fact('best-cv').waitFor({ timeout: 30000 });
  await shot('12-dark-theme');
});

test('the panel raised no errors in the page', () => {
  // The reconnect test stops the service on purpose: the browser logs each
  // refused websocket attempt of the panel's backoff while it is down. Those
  // are the test's doing, not errors of the panel.
  const provoked = e => e.startsWith('console: WebSocket connection to') && e.includes('net::ERR_CONNECTION_REFUSED') && e.includes(`ws://127.0.0.1:${sport}/api/events`);
  const ours = pageErrors.filter(e => /trialbook/i.test(e) && !provoked(e));
  assert.deepEqual(ours, []);
});
