// Real parts for the browser tests: trialbook serve, a JupyterLab from the
// project's .venv, headless Debian Chromium. Every process started here is
// ended by stopAll(), in its own process group.

import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const extDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const repo = resolve(extDir, '..');
export const venv = join(repo, '.venv');
export const trialbookBin = join(repo, 'bin', 'trialbook');
export const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const artifacts = join(repo, 'test-artifacts', 'extension-e2e');

export const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync'
];

/** Checks what the tests need and says how to get what is missing. */
export function requireParts() {
  const missing = [];
  if (!existsSync(trialbookBin)) missing.push(`${trialbookBin} (make build)`);
  if (!existsSync(join(venv, 'bin', 'jupyter-lab'))) missing.push(`${venv}/bin/jupyter-lab (make venv)`);
  if (!existsSync(chromiumPath)) missing.push(`${chromiumPath} (apt-get install -y chromium)`);
  if (missing.length) {
    throw new Error(`the browser tests need: ${missing.join(', ')}`);
  }
}

export function tempDir() {
  return mkdtempSync(join(tmpdir(), 'trialbook-e2e-'));
}

/** A free loopback port. */
export function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

const started = [];

/**
 * Starts a process in its own group and resolves once a line of its output
 * matches ready (or rejects when it exits first, with its output).
 */
export function start(name, cmd, args, { env = {}, cwd = repo, ready, timeoutMs = 120000 } = {}) {
  const child = spawn(cmd, args, {
    cwd,
    env: { ...process.env, ...env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe']
  });
  const proc = { name, child, output: '', exited: false };
  started.push(proc);
  return new Promise((res, rej) => {
    const timer = setTimeout(
      () => rej(new Error(`${name} was not ready after ${timeoutMs} ms:\n${proc.output.slice(-4000)}`)),
      timeoutMs
    );
    const onData = chunk => {
      proc.output += chunk.toString();
      const m = ready ? proc.output.match(ready) : [''];
      if (m && !proc.ready) {
        proc.ready = true;
        clearTimeout(timer);
        res({ ...proc, match: m });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', code => {
      proc.exited = true;
      if (!proc.ready) {
        clearTimeout(timer);
        rej(new Error(`${name} exited with ${code} before it was ready:\n${proc.output.slice(-4000)}`));
      }
    });
  });
}

/** Ends one process started here (by the name given to start). */
export async function stop(name) {
  const i = started.findIndex(p => p.name === name);
  if (i < 0) return;
  await end(started.splice(i, 1)[0]);
}

/** Ends every process started here: SIGTERM to its group, then SIGKILL. */
export async function stopAll() {
  await Promise.all(started.splice(0).map(end));
}

function end(p) {
  return new Promise(res => {
    if (p.exited) return res();
    p.child.once('exit', () => res());
    try {
      process.kill(-p.child.pid, 'SIGTERM');
    } catch {
      return res();
    }
    setTimeout(() => {
      try {
        process.kill(-p.child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, 5000).unref();
  });
}

/** Runs a command to completion and returns its stdout. */
export function run(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { cwd: repo, encoding: 'utf8', ...opts, env: { ...process.env, ...(opts.env ?? {}) } });
}

/** Writes scikit-learn's bundled diabetes data as a CSV (a small real dataset). */
export function writeDiabetesCsv(path) {
  mkdirSync(dirname(path), { recursive: true });
  run(join(venv, 'bin', 'python'), [
    '-c',
    'import sys; from sklearn.datasets import load_diabetes; load_diabetes(as_frame=True).frame.to_csv(sys.argv[1], index=False)',
    path
  ]);
}

/** The events of a journal file. */
export function readJournal(path) {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(l => l.trim())
    .map(l => JSON.parse(l));
}

/** Percentile (nearest rank) of numbers. */
export function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/**
 * Starts JupyterLab from .venv on 127.0.0.1:port with root as its root_dir,
 * the extension and its settings from prefix (where `trialbook lab install`
 * put them) and its own user settings, config and runtime folders under tmp,
 * so the user's Jupyter folders are left alone. Returns the user settings
 * folder (tests write a theme there).
 */
export async function startJupyterLab({ tmp, root, prefix, port, token }) {
  const settingsDir = join(prefix, 'share', 'jupyter', 'lab', 'settings');
  // No news toast over the panel's buttons.
  const userSettings = join(tmp, 'lab-user-settings');
  mkdirSync(join(userSettings, '@jupyterlab', 'apputils-extension'), { recursive: true });
  writeFileSync(
    join(userSettings, '@jupyterlab', 'apputils-extension', 'notification.jupyterlab-settings'),
    JSON.stringify({ fetchNews: 'false', checkForUpdates: false })
  );
  await start(
    'jupyter lab',
    join(venv, 'bin', 'jupyter-lab'),
    [
      '--no-browser',
      '--allow-root',
      `--IdentityProvider.token=${token}`,
      `--ServerApp.root_dir=${root}`, // the same folder as serve's --root: paths map one to one
      '--ServerApp.ip=127.0.0.1',
      `--ServerApp.port=${port}`,
      '--ServerApp.port_retries=0',
      `--LabApp.app_settings_dir=${settingsDir}`
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
      ready: new RegExp(`http://127\\.0\\.0\\.1:${port}/lab`)
    }
  );
  return userSettings;
}

/** Switches JupyterLab's theme by its user settings (read on the next reload). */
export function setTheme(userSettings, theme) {
  writeFileSync(
    join(userSettings, '@jupyterlab', 'apputils-extension', 'themes.jupyterlab-settings'),
    JSON.stringify({ theme })
  );
}
