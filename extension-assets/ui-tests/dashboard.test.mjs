// End to end: the dashboard in a real JupyterLab with trialbook serve and
// headless Chromium. A 3-trial experiment with the built-in agent fills the
// leaderboard and the chart live; sorting and filtering; a trial's page; two
// trials compared, checked against the service's compare endpoint (lab's
// keep-rule code); the tab comes back after a reload; the dark theme; and
// event-to-screen latency measured as the panel's is.
//
// Screenshots go to test-artifacts/extension-e2e/dashboard-*.png.

import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { chromium } from 'playwright-core';

import * as H from './harness.mjs';

const TRIALS = 3;
const LATENCY_SAMPLES = 60;

const pageErrors = [];
let tmp, root, prefix, sport, serveUrl, serveToken, jport, jtoken, userSettings, browser, page;

function api(path, init = {}) {
  return fetch(`${serveUrl}${path}`, { ...init, headers: { Authorization: `token ${serveToken}`, ...(init.headers ?? {}) } });
}

/** The page, and the dashboard tab alone (what extension-assets/docs shows). */
async function shot(name) {
  await page.screenshot({ path: join(H.artifacts, `dashboard-${name}-page.png`) });
  await page.locator('.jp-MainAreaWidget:visible').screenshot({ path: join(H.artifacts, `dashboard-${name}.png`) });
}

const panel = () => page.locator('#trialbook-panel');
const dash = (id = 'diabetes') => page.getByRole('region', { name: `Dashboard of ${id}` });
const rowsOf = (id = 'diabetes') => dash(id).getByRole('table', { name: 'Leaderboard' }).locator('tbody tr[data-trial]');
const trialsShown = async (id = 'diabetes') => rowsOf(id).evaluateAll(trs => trs.map(tr => Number(tr.getAttribute('data-trial'))));

async function openPanel() {
  const tab = page.locator('.jp-SideBar.jp-mod-right li[role=tab][data-id="trialbook-panel"]');
  await tab.waitFor({ timeout: 60000 });
  await page.locator('#jupyterlab-splash').waitFor({ state: 'detached', timeout: 60000 });
  const deadline = Date.now() + 30000;
  let steady = 0;
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

async function choose(id) {
  await page.waitForFunction(
    v => [...document.querySelectorAll('#trialbook-panel select[aria-label="Experiment"] option')].some(o => o.value === v),
    id,
    { timeout: 30000 }
  );
  await panel().getByLabel('Experiment', { exact: true }).selectOption(id);
}

/** The journal's events for one experiment under the root. */
const journal = id => H.readJournal(join(root, id, 'journal.jsonl'));

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
  const env = { XDG_RUNTIME_DIR: join(tmp, 'run') };
  const serve = await H.start(
    'trialbook serve',
    H.trialbookBin,
    ['serve', '--root', root, '--addr', `127.0.0.1:${sport}`, '--allow-origin', `http://127.0.0.1:${jport}`],
    { env, ready: /(http:\/\/127\.0\.0\.1:\d+)\/\?token=(\w+)/ }
  );
  serveUrl = serve.match[1];
  serveToken = serve.match[2];
  H.run(H.trialbookBin, ['lab', 'install', '--prefix', prefix], { env });
  userSettings = await H.startJupyterLab({ tmp, root, prefix, port: jport, token: jtoken });

  const created = await api('/api/experiments', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: 'diabetes', data: 'data/diabetes.csv', target: 'target', task: 'regression', trials: TRIALS, featureResearch: false, explain: false })
  });
  assert.equal(created.status, 201, await created.text());

  browser = await chromium.launch({ executablePath: H.chromiumPath, args: H.chromiumArgs });
  page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  page.on('pageerror', err => pageErrors.push(`${err.message}\n${err.stack ?? ''}`));
  page.on('console', m => {
    if (m.type() === 'error') pageErrors.push(`console: ${m.text()}\n${m.location().url}`);
  });
});

after(async () => {
  await api('/api/experiments/diabetes/stop', { method: 'POST' }).catch(() => undefined);
  await browser?.close();
  await H.stopAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('the dashboard opens from the panel and fills in live as a 3-trial run goes', async () => {
  await page.goto(`http://127.0.0.1:${jport}/lab?token=${jtoken}`);
  await openPanel();
  await panel().locator('[data-state="connected"]').waitFor({ timeout: 30000 });
  await choose('diabetes');
  await panel().getByRole('button', { name: 'Open dashboard' }).click();
  await dash().waitFor({ timeout: 30000 });
  await page.waitForFunction(() => document.querySelector('[data-tb="dash-status"]')?.textContent === 'created', null, { timeout: 30000 });

  // Record the leaderboard's rows and the chart's points as they appear.
  await page.evaluate(() => {
    const seen = (window.__tbDash = { rows: [], points: [] });
    const root = document.querySelector('.tb-Dashboard');
    new MutationObserver(() => {
      const rows = root.querySelectorAll('table[aria-label="Leaderboard"] tbody tr[data-trial]').length;
      const points = root.querySelectorAll('.tb-DashChart .tb-Point').length;
      if (seen.rows.at(-1) !== rows) seen.rows.push(rows);
      if (seen.points.at(-1) !== points) seen.points.push(points);
    }).observe(root, { childList: true, subtree: true });
  });
  await panel().getByRole('region', { name: 'Status' }).getByRole('button', { name: 'Start', exact: true }).click();
  await page.waitForFunction(
    n =>
      document.querySelector('[data-tb="dash-status"]')?.textContent === 'finished' &&
      Number(document.querySelector('[data-tb="dash-done"]')?.getAttribute('data-done')) === n,
    TRIALS,
    { timeout: 600000, polling: 250 }
  );
  // A finished run may still hold its lock (it writes the report): Stop is
  // not offered for it.
  const stop = panel().getByRole('region', { name: 'Status' }).getByRole('button', { name: 'Stop', exact: true });
  assert.ok(await stop.isDisabled(), 'Stop is enabled on a finished experiment');

  const events = journal('diabetes');
  const seen = await page.evaluate(() => window.__tbDash);
  assert.deepEqual(seen.rows.filter(n => n > 0), [1, 2, 3], `rows seen: ${seen.rows}`);
  assert.ok(seen.points.includes(TRIALS) && seen.points.filter(n => n > 0)[0] < TRIALS, `points seen: ${seen.points}`);
  assert.equal(await rowsOf().count(), TRIALS);
  // The best trial and the ensemble are marked, as the journal says.
  const best = events.filter(e => e.type === 'trial.kept' || e.type === 'trial.discarded').at(-1).best;
  assert.equal(await dash().locator(`tr[data-trial="${best}"] [data-tb="mark-best"]`).count(), 1);
  assert.equal(await dash().locator('[data-tb="mark-best"]').count(), 1);
  const ens = events.filter(e => e.type === 'ensemble.updated').at(-1);
  if (ens) {
    assert.equal(Number(await dash().locator('[data-tb="dash-ensemble"]').getAttribute('data-value')), ens.score.cv);
    assert.equal(await dash().locator('[data-tb="ensemble-line"] rect').count(), events.filter(e => e.type === 'ensemble.updated').length);
  }
  // Every trial is a point; kept and discarded ones look different.
  for (const e of events.filter(e => ['trial.kept', 'trial.discarded', 'trial.failed'].includes(e.type))) {
    const status = e.type.split('.')[1];
    assert.equal(await dash().locator(`.tb-Point[data-trial="${e.trial}"]`).getAttribute('data-status'), status);
    const title = await dash().locator(`.tb-Point[data-trial="${e.trial}"] title`).textContent();
    assert.ok(title.includes(status) && (!e.reason || title.includes(e.reason.slice(0, 40))), title);
  }
  await shot('overview');
});

test('sorting and filtering the leaderboard', async () => {
  const events = journal('diabetes');
  await dash().getByRole('table', { name: 'Leaderboard' }).getByRole('button', { name: /^#/ }).click();
  assert.deepEqual(await trialsShown(), [1, 2, 3]);
  await dash().getByRole('table', { name: 'Leaderboard' }).getByRole('button', { name: /^#/ }).click();
  assert.deepEqual(await trialsShown(), [3, 2, 1]);
  // By CV: best first (rmse: lowest first), as the journal's scores say.
  await dash().getByRole('table', { name: 'Leaderboard' }).getByRole('button', { name: /^CV/ }).click();
  const cv = n => events.filter(e => e.trial === n && e.score).at(-1)?.score.cv ?? Infinity;
  assert.deepEqual(await trialsShown(), [1, 2, 3].sort((a, b) => cv(a) - cv(b)));

  const status = n => events.filter(e => e.trial === n && /^trial\.(kept|discarded|failed)$/.test(e.type)).at(-1).type.split('.')[1];
  await dash().getByLabel('Status', { exact: true }).selectOption('kept');
  assert.deepEqual((await trialsShown()).sort(), [1, 2, 3].filter(n => status(n) === 'kept'));
  await dash().getByLabel('Status', { exact: true }).selectOption('');

  const family = n => JSON.parse(JSON.stringify(events.find(e => e.trial === n && e.type === 'trial.proposed').data ?? {})).tags?.family;
  const fam = family(1);
  assert.ok(fam, 'the built-in agent tags a family');
  await dash().getByLabel('Family', { exact: true }).selectOption(fam);
  assert.deepEqual((await trialsShown()).sort(), [1, 2, 3].filter(n => family(n) === fam));
  await dash().getByLabel('Family', { exact: true }).selectOption('');
  await dash().getByLabel('Agent', { exact: true }).selectOption('builtin');
  assert.equal(await rowsOf().count(), TRIALS);
  await dash().getByLabel('Agent', { exact: true }).selectOption('');
  await dash().getByLabel('Tag', { exact: true }).fill(`family=${fam}`);
  assert.deepEqual((await trialsShown()).sort(), [1, 2, 3].filter(n => family(n) === fam));
  await dash().getByLabel('Tag', { exact: true }).fill('no-such-tag-anywhere');
  assert.equal(await rowsOf().count(), 0);
  await dash().getByLabel('Tag', { exact: true }).fill('');
  assert.equal(await rowsOf().count(), TRIALS);

  // Keyboard: Enter on a row opens its notebook.
  await rowsOf().first().focus();
  const first = await rowsOf().first().getAttribute('data-trial');
  await page.keyboard.press('Enter');
  await page.waitForFunction(
    n => new RegExp(`^00${n}-.*\\.ipynb$`).test(document.querySelector('.lm-DockPanel-tabBar .lm-mod-current .lm-TabBar-tabLabel')?.textContent ?? ''),
    first,
    { timeout: 60000 }
  );
  await page.locator('.lm-DockPanel-tabBar .lm-TabBar-tab', { hasText: 'Trialbook: diabetes' }).click();
  await dash().waitFor();
});

test('a trial\'s page: plan, folds, verdict and cells', async () => {
  const events = journal('diabetes');
  const best = events.filter(e => e.type === 'trial.kept' || e.type === 'trial.discarded').at(-1).best;
  await dash().getByRole('button', { name: `Details of trial ${best}`, exact: true }).click();
  const pageEl = dash().locator(`.tb-TrialPage[data-trial="${best}"]`);
  await pageEl.waitFor();
  const plan = events.find(e => e.trial === best && e.type === 'trial.proposed').plan;
  const words = t => t.replace(/\s+/g, ' ').trim();
  assert.equal(words(await pageEl.getByLabel('Plan').locator('.tb-PlanText').innerText()), words(plan));
  const score = events.filter(e => e.trial === best && e.score).at(-1).score;
  const folds = await pageEl.getByRole('table', { name: 'Per-fold scores' }).locator('td[data-value]').evaluateAll(tds => tds.map(td => Number(td.dataset.value)));
  assert.deepEqual(folds, score.folds);
  const decided = events.find(e => e.trial === best && (e.type === 'trial.kept' || e.type === 'trial.discarded'));
  assert.ok((await pageEl.locator('[data-tb="trial-verdict"]').innerText()).includes(decided.reason));
  // The cells, from the notebook, with their outputs.
  await pageEl.locator('.tb-CellRow').first().waitFor({ timeout: 30000 });
  const cells = await (await api(`/api/experiments/diabetes/trials/${best}/cells`)).json();
  assert.equal(await pageEl.locator('.tb-CellRow').count(), cells.cells.filter(c => c.index > 0 || c.type !== 'markdown').length);
  assert.equal(await pageEl.locator('.tb-Out, .tb-OutImage').count(), cells.cells.reduce((n, c) => n + c.outputs.length, 0));
  await shot('trial');
});

test('two trials compared: the diff and the fold table are the service\'s', async () => {
  await dash().getByRole('tab', { name: 'Leaderboard' }).click();
  await dash().getByLabel('Select trial 1 to compare').check();
  await dash().getByLabel('Select trial 2 to compare').check();
  await dash().getByRole('button', { name: /^Compare selected/ }).click();
  const cmp = dash().locator('.tb-ComparePage');
  await cmp.locator('[data-tb="cv-A"]').waitFor({ timeout: 30000 });
  const want = await (await api('/api/experiments/diabetes/compare?a=1&b=2')).json();

  const folds = await cmp.getByRole('table', { name: 'Folds compared' }).locator('tbody tr').evaluateAll(trs =>
    trs.map(tr => ({ fold: Number(tr.dataset.fold), a: Number(tr.dataset.a), b: Number(tr.dataset.b), diff: Number(tr.dataset.diff), improvement: Number(tr.dataset.improvement) }))
  );
  assert.deepEqual(folds, want.folds);
  const paired = cmp.locator('[data-tb="paired"]');
  assert.equal(Number(await paired.getAttribute('data-mean')), want.test.mean);
  assert.equal(Number(await paired.getAttribute('data-se')), want.test.se);
  assert.equal(Number(await paired.getAttribute('data-wins')), want.test.wins);
  assert.equal(await cmp.locator('[data-tb="verdict"]').getAttribute('data-keep'), String(want.keep));
  assert.ok((await cmp.locator('[data-tb="verdict"]').innerText()).includes(want.reason));
  assert.equal(Number(await cmp.locator('[data-tb="holdout-A"]').getAttribute('data-value')), want.a.score.holdout);
  assert.equal(Number(await cmp.locator('[data-tb="cv-B"]').getAttribute('data-value')), want.b.score.cv);

  // Differences only (the default): the changed cells, line for line.
  const changed = want.cells.filter(c => c.change !== 'same');
  assert.ok(changed.length > 0, 'two different trials differ in some cell');
  assert.deepEqual(await cmp.locator('.tb-CellDiff').evaluateAll(ds => ds.map(d => [Number(d.dataset.cell), d.dataset.change])), changed.map(c => [c.index, c.change]));
  for (const c of changed) {
    const ops = await cmp.locator(`.tb-CellDiff[data-cell="${c.index}"] .tb-Diff`).evaluateAll(ls => ls.map(l => l.dataset.op));
    assert.deepEqual(ops, c.lines.map(l => l.op), `cell ${c.index}`);
  }
  const keysShown = label => cmp.getByRole('table', { name: label }).locator('tbody tr').evaluateAll(trs => trs.map(tr => tr.dataset.key));
  assert.deepEqual(await keysShown('Params').catch(() => []), want.params.filter(d => !d.same).map(d => d.key));
  await shot('compare');
  await cmp.getByLabel('Differences only').uncheck();
  assert.equal(await cmp.locator('.tb-CellDiff').count(), want.cells.length);
  assert.deepEqual(await keysShown('Tags'), want.tags.map(d => d.key));
  await cmp.getByLabel('Differences only').check();

  // Compare with best, from a trial's page.
  const bestTrial = Number(await dash().locator('[data-tb="dash-best"]').getAttribute('data-trial'));
  const other = [1, 2, 3].find(n => n !== bestTrial);
  await dash().getByRole('tab', { name: 'Leaderboard' }).click();
  await dash().getByRole('button', { name: `Details of trial ${other}`, exact: true }).click();
  await dash().getByRole('button', { name: 'Compare with best' }).click();
  await page.waitForFunction(n => document.querySelector('.tb-ComparePage [data-side="A"] h3')?.textContent?.startsWith(`A: #${n} `), other, { timeout: 30000 });
  assert.match(await cmp.locator('[data-side="B"] h3').innerText(), new RegExp(`^B: #${bestTrial} `));
  assert.match(await cmp.locator('[data-side="A"] h3').innerText(), new RegExp(`^A: #${other} `));
});

test('the command palette opens the dashboard, and a reload brings the tab back', async () => {
  // Close the tab, then open it again from the palette.
  await page.locator('.lm-DockPanel-tabBar .lm-TabBar-tab', { hasText: 'Trialbook: diabetes' }).locator('.lm-TabBar-tabCloseIcon').click();
  await dash().waitFor({ state: 'detached' });
  await page.locator('.jp-DirListing-content').click(); // the keyboard goes to the application
  await page.keyboard.press('Control+Shift+C');
  await page.locator('.lm-CommandPalette-input').fill('Trialbook dashboard');
  await page.locator('.lm-CommandPalette-item', { hasText: 'Open the Trialbook dashboard' }).click();
  // JupyterLab saves its layout (the workspace) a moment after a change;
  // reload once it has, as a user would some time later.
  const saved = page.waitForResponse(r => r.url().includes('/lab/api/workspaces') && r.request().method() === 'PUT', { timeout: 60000 });
  await dash().waitFor({ timeout: 30000 });
  await rowsOf().first().waitFor({ timeout: 30000 });
  await saved;

  await page.reload();
  await dash().waitFor({ timeout: 60000 });
  await page.waitForFunction(n => document.querySelectorAll('.tb-Dashboard table[aria-label="Leaderboard"] tbody tr[data-trial]').length === n, TRIALS, { timeout: 60000 });
  assert.equal(await page.locator('.lm-DockPanel-tabBar .lm-TabBar-tab', { hasText: 'Trialbook: diabetes' }).count(), 1);
});

test('event-to-screen latency of the dashboard, and agent steps beside a trial\'s cells', async () => {
  const id = 'dash-latency';
  const dir = join(root, id);
  mkdirSync(dir);
  const file = join(dir, 'journal.jsonl');
  let seq = 0;
  const append = e => {
    seq++;
    appendFileSync(file, JSON.stringify({ seq, time: new Date().toISOString(), ...e }) + '\n');
  };
  append({
    type: 'experiment.created',
    problem: { name: id, task: 'regression', target: 'y', metric: 'rmse', direction: 'minimize', validation: 'kfold', trials: 0, agent: 'scripted' }
  });
  append({ type: 'experiment.started' });
  append({ type: 'trial.proposed', trial: 1, title: 'probe 1', notebook: 'trials/001-probe.ipynb', plan: 'look around', agent: 'llm' });
  append({ type: 'trial.started', trial: 1 });
  append({ type: 'agent.step', trial: 1, text: 'read the data view' });
  append({ type: 'agent.step', trial: 1, cell: 2, text: 'wrote a cell that fits a ridge' });
  await openPanel();
  await choose(id);
  await panel().getByRole('button', { name: 'Open dashboard' }).click();
  await rowsOf(id).first().waitFor({ timeout: 30000 });

  // The page stamps when each new trial's row shows, in the dashboard and,
  // as the peer in the same run, in the side panel (which follows the same
  // experiment): the same events, the same machine, the same moment.
  await page.evaluate(id => {
    const seen = (window.__tbRows = { dash: {}, panel: {} });
    const roots = {
      dash: [...document.querySelectorAll('.tb-Dashboard')].find(d => d.getAttribute('aria-label') === `Dashboard of ${id}`),
      panel: document.querySelector('#trialbook-panel')
    };
    for (const [k, root] of Object.entries(roots)) {
      new MutationObserver(() => {
        for (const tr of root.querySelectorAll('tbody tr[data-trial]')) {
          const n = tr.getAttribute('data-trial');
          if (!(n in seen[k])) seen[k][n] = Date.now();
        }
      }).observe(root, { childList: true, subtree: true });
    }
  }, id);
  const latencies = [];
  const panelLatencies = [];
  for (let i = 2; i <= LATENCY_SAMPLES + 1; i++) {
    const t0 = Date.now();
    append({ type: 'trial.proposed', trial: i, title: `probe ${i}`, notebook: `trials/${String(i).padStart(3, '0')}-probe.ipynb`, agent: 'llm' });
    await page.waitForFunction(n => window.__tbRows.dash[n] !== undefined && window.__tbRows.panel[n] !== undefined, String(i), { timeout: 10000, polling: 'raf' });
    const seen = await page.evaluate(n => [window.__tbRows.dash[n], window.__tbRows.panel[n]], String(i));
    latencies.push(seen[0] - t0);
    panelLatencies.push(seen[1] - t0);
  }
  const p50 = H.percentile(latencies, 50);
  const p99 = H.percentile(latencies, 99);
  const pp50 = H.percentile(panelLatencies, 50);
  const pp99 = H.percentile(panelLatencies, 99);
  const line =
    `dashboard event-to-screen latency over ${latencies.length} appends: p50 ${p50} ms, p99 ${p99} ms (target p99 < 200 ms); ` +
    `the panel on the same events: p50 ${pp50} ms, p99 ${pp99} ms; dashboard/panel p99 ${(p99 / Math.max(1, pp99)).toFixed(2)}`;
  console.log(line);
  writeFileSync(join(H.artifacts, 'dashboard-latency.txt'), `${line}\ndashboard: ${latencies.join(' ')}\npanel: ${panelLatencies.join(' ')}\n`);
  // As for the panel: the target is 200 ms; the bound leaves room for a loaded CI machine.
  assert.ok(p99 < 1000, line);

  // agent.step events show on the trial's page, live.
  await dash(id).getByRole('button', { name: 'Details of trial 1', exact: true }).click();
  const steps = dash(id).locator('[data-tb="agent-step"]');
  await steps.first().waitFor({ timeout: 30000 });
  assert.equal(await steps.count(), 2);
  append({ type: 'agent.step', trial: 1, text: 'handed back the predictions' });
  await page.waitForFunction(id => document.querySelectorAll(`[aria-label="Dashboard of ${id}"] [data-tb="agent-step"]`).length === 3, id, { timeout: 10000 });
  assert.match(await steps.last().innerText(), /handed back the predictions/);
});

test('dark theme: every view', async () => {
  H.setTheme(userSettings, 'JupyterLab Dark');
  await page.reload();
  await page.waitForFunction(() => document.body.dataset.jpThemeLight === 'false', null, { timeout: 60000 });
  await page.locator('.lm-DockPanel-tabBar .lm-TabBar-tab', { hasText: 'Trialbook: diabetes' }).click();
  await rowsOf().first().waitFor({ timeout: 60000 });
  const bg = await dash().evaluate(el => getComputedStyle(el).backgroundColor);
  const [r, g, b] = bg.match(/\d+/g).map(Number);
  assert.ok(r + g + b < 200, `the dashboard's background follows the dark theme: ${bg}`);
  await shot('overview-dark');
  await dash().getByRole('button', { name: 'Details of trial 1', exact: true }).click();
  await dash().locator('.tb-CellRow').first().waitFor({ timeout: 30000 });
  await shot('trial-dark');
  await dash().getByRole('tab', { name: 'Leaderboard' }).click();
  await dash().getByLabel('Select trial 1 to compare').check();
  await dash().getByLabel('Select trial 2 to compare').check();
  await dash().getByRole('button', { name: /^Compare selected/ }).click();
  await dash().locator('[data-tb="cv-A"]').waitFor({ timeout: 30000 });
  await shot('compare-dark');

  // JupyterLab's high-contrast theme: the same variables, so the same view.
  H.setTheme(userSettings, 'JupyterLab Dark High Contrast');
  await page.reload();
  await page.waitForFunction(() => document.body.dataset.jpThemeName === 'JupyterLab Dark High Contrast', null, { timeout: 60000 });
  await page.locator('.lm-DockPanel-tabBar .lm-TabBar-tab', { hasText: 'Trialbook: diabetes' }).click();
  await rowsOf().first().waitFor({ timeout: 60000 });
  await shot('overview-high-contrast');
  H.setTheme(userSettings, 'JupyterLab Light');
});

test('the dashboard raised no errors in the page', () => {
  assert.deepEqual(pageErrors.filter(e => /trialbook/i.test(e)), []);
});
