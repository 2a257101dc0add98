// Builds the prebuilt (federated) labextension into ./labextension with
// @jupyterlab/builder from node_modules. The builder needs JupyterLab's core
// package metadata (which modules are shared singletons); it comes from the
// jupyterlab Python package in the project's .venv (from PyPI), the same one
// the extension runs in.
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { sourcesDigest } from './sources-digest.mjs';

const here = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const python = process.env.PYTHON ?? join(here, '..', '.venv', 'bin', 'python');
if (!existsSync(python)) {
  console.error(`build-labextension: ${python} not found: run \`make venv\` first (or set PYTHON)`);
  process.exit(1);
}
const corePath = execFileSync(
  python,
  ['-c', 'import jupyterlab, os; print(os.path.join(os.path.dirname(jupyterlab.__file__), "staging"))'],
  { encoding: 'utf8' }
).trim();

execFileSync(
  process.execPath,
  [join(here, 'node_modules', '@jupyterlab', 'builder', 'lib', 'build-labextension.js'), '--core-path', corePath, here],
  { stdio: 'inherit', cwd: here }
);
// Record which sources this build came from; a Go test compares it with the
// sources in the tree so a stale build cannot be committed unnoticed.
writeFileSync(join(here, 'labextension', 'sources.sha256'), sourcesDigest(here) + '\n');
