// End to end: a trial driven over MCP shows up live in the panel.
// `trialbook mcp DIR` runs beside `trialbook serve` and a real JupyterLab
// (the panel installed by `trialbook lab install`, headless Chromium); a
// client speaking MCP's stdio transport (newline-delimited JSON-RPC) opens a
// trial and runs a cell that prints for several seconds: its output must
// reach the panel while the cell still runs, then the scored trial must
// appear in the trials table with the journal's CV.
//
// Screenshots go to test-artifacts/extension-e2e/.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { chromium } from 'playwright-core';

import * as H from './harness.mjs';

let tmp, root, prefix, jport, jtoken, browser, page, mcp;
const pageErrors = [];
const panel = () => page.locator('#trialbook-panel');

/** A minimal MCP client over stdio: one JSON-RPC message a line. */
function mcpClient(args, env) {
  const child = spawn(H.trialbookBin, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let buf = '';
  let stderr = '';
  let id = 0;
  const waiting = new Map();
  child.stdout.on('data', d => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!line.trim()) continue;
      const msg = JSON.parse(line);
      if (msg.id !== undefined && waiting.has(msg.id)) {
        waiting.get(msg.id)(msg);
        waiting.delete(msg.id);
      }
    }
  });
  child.stderr.on('data', d => (stderr += d));
  const send = msg => child.stdin.write(JSON.stringify({ jsonrpc: '2.0', ...msg }) + '\n');
  const request = (method, params) =>
    new Promise((res, rej) => {
      const n = ++id;
      const timer = setTimeout(() => rej(new Error(`${method}: no answer\n${stderr.slice(-3000)}`)), 300000);
      waiting.set(n, msg => {
        clearTimeout(timer);
        msg.error ? rej(new Error(`${method}: ${JSON.stringify(msg.error)}`)) : res(msg.result);
      });
      send({ id: n, method, params });
    });
  return {
    async init() {
      await request('initialize', {
        protocolVersion: '2025-06-18',
        capabilities: {},
        clientInfo: { name: 'panel-e2e-client', version: '1.0' }
      });
      send({ method: 'notifications/initialized' });
    },
    async tool(name, args = {}) {
      const r = await request('tools/call', { name, arguments: args });
      const text = r.content.filter(c => c.type === 'text').map(c => c.text).join('\n');
      assert.ok(!r.isError, `${name}: ${text}`);
      return text;
    },
    close() {
      child.stdin.end();
      return new Promise(res => (child.exitCode !== null ? res() : child.once('exit', res)));
    }
  };
}

before(async () => {
  H.requireParts();
  mkdirSync(H.artifacts, { recursive: true });
  tmp = H.tempDir();
  root = join(tmp, 'root');
  prefix = join(tmp, 'prefix');
  const dir = join(root, 'mcp-live');
  mkdirSync(dir, { recursive: true });
  mkdirSync(prefix);
  H.writeDiabetesCsv(join(dir, 'diabetes.csv'));
  writeFileSync(
    join(dir, 'problem.jsonnet'),
    "local tb = import 'trialbook.libsonnet';\n" +
      "tb.regression { name: 'mcp-live', data: 'diabetes.csv', target: 'target', metric: 'rmse',\n" +
      '  validation: tb.kfold(3), holdout: 0.2, trials: 3 }\n'
  );
  const sport = await H.freePort();
  jport = await H.freePort();
  jtoken = 'e2e-' + Math.random().toString(16).slice(2);
  const runtimeEnv = { XDG_RUNTIME_DIR: join(tmp, 'run') };
  await H.start(
    'trialbook serve',
    H.trialbookBin,
    ['serve', '--root', root, '--addr', `127.0.0.1:${sport}`, '--allow-origin', `http://127.0.0.1:${jport}`],
    { env: runtimeEnv, ready: /http:\/\/127\.0\.0\.1:\d+\/\?token=\w+/ }
  );
  H.run(H.trialbookBin, ['lab', 'install', '--prefix', prefix], { env: runtimeEnv });
  const userSettings = join(tmp, 'lab-user-settings');
  mkdirSync(join(userSettings, '@jupyterlab', 'apputils-extension'), { recursive: true });
  writeFileSync(
    join(userSettings, '@jupyterlab', 'apputils-extension', 'notification.jupyterlab-settings'),
    JSON.stringify({ fetchNews: 'false', checkForUpdates: false })
  );
  await H.start(
    'jupyter lab',
    join(H.venv, 'bin', 'jupyter-lab'),
    [
      '--no-browser',
      '--allow-root',
      `--IdentityProvider.token=${jtoken}`,
      `--ServerApp.root_dir=${root}`,
      '--ServerApp.ip=127.0.0.1',
      `--ServerApp.port=${jport}`,
      '--ServerApp.port_retries=0',
      `--LabApp.app_settings_dir=${join(prefix, 'share', 'jupyter', 'lab', 'settings')}`
    ],
    {
      env: {
        JUPYTER_PATH: join(prefix, 'share', 'jupyter'),
        JUPYTER_CONFIG_DIR: join(tmp, 'jupyter-config'),
        JUPYTER_DATA_DIR: join(tmp, 'jupyter-data'),
        JUPYTER_RUNTIME_DIR: join(tmp, 'jupyter-runtime'),
        JUPYTERLAB_SETTINGS_DIR: userSettings,
        JUPYTERLAB_WORKSPACES_DIR: join(tmp, 'lab-workspaces')
      },
      ready: new RegExp(`http://127\\.0\\.0\\.1:${jport}/lab`)
    }
  );
  // The MCP server opens the experiment (its journal) before it answers.
  mcp = mcpClient(['mcp', dir], { PATH: `${join(H.venv, 'bin')}:${process.env.PATH}` });
  await mcp.init();

  browser = await chromium.launch({ executablePath: H.chromiumPath, args: H.chromiumArgs });
  page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  page.on('pageerror', err => pageErrors.push(`${err.message}\n${err.stack ?? ''}`));
});

after(async () => {
  await mcp?.close();
  await browser?.close();
  await H.stopAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('an MCP-driven trial fills the panel in live', async () => {
  await page.goto(`http://127.0.0.1:${jport}/lab?token=${jtoken}`);
  await page.locator('#jupyterlab-splash').waitFor({ state: 'detached', timeout: 60000 });
  const tab = page.locator('.jp-SideBar.jp-mod-right li[role=tab][data-id="trialbook-panel"]');
  await tab.waitFor({ timeout: 60000 });
  const deadline = Date.now() + 30000;
  while (!(await panel().isVisible())) {
    assert.ok(Date.now() < deadline, 'the Trialbook panel did not open');
    await tab.click();
    await page.waitForTimeout(300);
  }
  await page.waitForFunction(
    () => [...document.querySelectorAll('#trialbook-panel select[aria-label="Experiment"] option')].some(o => o.value === 'mcp-live'),
    null,
    { timeout: 60000 }
  );
  await panel().getByLabel('Experiment', { exact: true }).selectOption('mcp-live');

  assert.match(await mcp.tool('start_trial', { title: 'Ridge over MCP', plan: 'A ridge, driven by an MCP client.' }), /Trial 1 started/);
  let cellDone = false;
  const slow = mcp
    .tool('run_cell', { trial: 1, code: "import time\nfor i in range(8):\n    print('tick', i, flush=True)\n    time.sleep(1)" })
    .then(t => ((cellDone = true), t));
  // The cell's output reaches the panel while the cell still runs.
  const out = panel().locator('.tb-Running[data-trial="1"] pre[aria-label="Cell output"]');
  await page.waitForFunction(
    () => /tick [0-5]/.test(document.querySelector('#trialbook-panel .tb-Running[data-trial="1"] pre[aria-label="Cell output"]')?.textContent ?? ''),
    null,
    { timeout: 60000, polling: 100 }
  );
  assert.equal(cellDone, false, 'the output showed only after the cell had finished');
  assert.match(await panel().locator('.tb-Running[data-trial="1"]').innerText(), /#1 Ridge over MCP/);
  await page.screenshot({ path: join(H.artifacts, 'mcp-01-running.png') });
  assert.match(await slow, /tick 7/);
  assert.match(await out.innerText(), /tick 7/);

  await mcp.tool('run_cell', {
    trial: 1,
    code:
      'from sklearn.linear_model import Ridge\nimport numpy as np\noof = np.zeros(len(X)); hold = np.zeros(len(X_holdout))\n' +
      'for tr, va in folds:\n    m = Ridge(alpha=1.0).fit(X.iloc[tr], y.iloc[tr])\n    oof[va] = m.predict(X.iloc[va])\n    hold += m.predict(X_holdout) / len(folds)\n' +
      'hand_back(oof, hold)'
  });
  assert.match(await mcp.tool('finish_trial', { trial: 1 }), /Trial 1 scored by the harness/);

  const row = panel().getByRole('table', { name: 'Trials' }).locator('tbody tr[data-trial="1"]');
  await row.waitFor({ timeout: 60000 });
  const events = H.readJournal(join(root, 'mcp-live', 'journal.jsonl'));
  assert.equal(events.find(e => e.type === 'trial.proposed')?.agent, 'panel-e2e-client', 'the journal names the MCP client');
  const cv = events.find(e => e.type === 'trial.kept')?.score?.cv;
  await page.waitForFunction(
    want => Number(document.querySelector('#trialbook-panel [data-tb="best-cv"]')?.getAttribute('data-value')) === want,
    cv,
    { timeout: 30000 }
  );
  await page.screenshot({ path: join(H.artifacts, 'mcp-02-scored.png') });
  assert.deepEqual(pageErrors.filter(e => /trialbook/i.test(e)), []);
});
