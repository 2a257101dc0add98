// `trialbook mcp` driven by the MCP Inspector's CLI (@modelcontextprotocol/inspector),
// a client we did not write: over stdio it lists the tools and calls
// `experiment`; over the streamable HTTP transport (--http) it is refused
// without the token and served with it. Run by `make test-mcp-clients`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const bin = join(root, 'bin', 'trialbook');
const inspector = join(here, 'node_modules', '.bin', 'mcp-inspector');
const env = {
  ...process.env,
  PATH: `${join(root, '.venv', 'bin')}:${process.env.PATH}`,
  MCP_CATALOG_PATH: join(mkdtempSync(join(tmpdir(), 'inspector-')), 'mcp.json'),
};

function experiment() {
  const dir = mkdtempSync(join(tmpdir(), 'tb-mcp-'));
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const rows = ['Id,area,rooms,price'];
  for (let i = 0; i < 150; i++) {
    const area = 50 + rnd() * 150, rooms = 1 + Math.floor(rnd() * 5);
    rows.push(`${i + 1},${area.toFixed(1)},${rooms},${Math.exp(10 + area / 100 + rooms / 10 + (rnd() - 0.5) * 0.4).toFixed(0)}`);
  }
  writeFileSync(join(dir, 'homes.csv'), rows.join('\n') + '\n');
  writeFileSync(join(dir, 'problem.jsonnet'), "local tb = import 'trialbook.libsonnet';\n" +
    "tb.regression { name: 'homes', data: 'homes.csv', target: 'price', metric: 'rmse',\n" +
    "  validation: tb.kfold(3), holdout: 0.2, trials: 2, features: tb.features(ids=['Id']) }\n");
  return dir;
}

function cli(args) {
  return new Promise((resolveP) => {
    execFile(inspector, ['--cli', ...args], { env, timeout: 120_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolveP({ code: err ? (err.code ?? 1) : 0, stdout, stderr });
    });
  });
}

test('the Inspector CLI lists the tools and calls experiment over stdio', async () => {
  const dir = experiment();
  const list = await cli([bin, 'mcp', dir, '--method', 'tools/list']);
  assert.equal(list.code, 0, list.stderr);
  const tools = JSON.parse(list.stdout).tools;
  assert.deepEqual(tools.map((t) => t.name).sort(),
    ['abandon_trial', 'experiment', 'finish_trial', 'replace_cell', 'run_cell', 'start_trial', 'trial']);
  const run = tools.find((t) => t.name === 'run_cell');
  assert.deepEqual(run.inputSchema.required.sort(), ['code', 'trial']);
  assert.equal(run.inputSchema.properties.trial.type, 'integer');

  const call = await cli([bin, 'mcp', dir, '--method', 'tools/call', '--tool-name', 'experiment']);
  assert.equal(call.code, 0, call.stderr);
  const res = JSON.parse(call.stdout);
  assert.ok(!res.isError, call.stdout);
  const text = res.content[0].text;
  assert.match(text, /Metric: rmse \(lower is better\)/);
  assert.match(text, /trials: 0 done of 2/);
  assert.match(text, /No trials yet/);
});

test('over --http the Inspector CLI needs the token', async (t) => {
  const dir = experiment();
  const token = 'inspector-test-token';
  const server = spawn(bin, ['mcp', dir, '--http', '127.0.0.1:0', '--token', token], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  t.after(() => server.kill('SIGTERM'));
  const url = await new Promise((resolveP, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`no URL from trialbook mcp --http:\n${err}`)), 120_000);
    server.stderr.on('data', (d) => {
      err += d;
      const m = err.match(/URL:\s+(http:\S+)/);
      if (m) { clearTimeout(timer); resolveP(m[1]); }
    });
    server.on('exit', (code) => reject(new Error(`trialbook mcp --http exited ${code}:\n${err}`)));
  });
  const denied = await cli([url, '--transport', 'http', '--method', 'tools/list']);
  assert.notEqual(denied.code, 0, `served without a token: ${denied.stdout}`);
  const wrong = await cli([url, '--transport', 'http', '--header', 'Authorization: Bearer nope', '--method', 'tools/list']);
  assert.notEqual(wrong.code, 0, `served with a wrong token: ${wrong.stdout}`);
  const call = await cli([url, '--transport', 'http', '--header', `Authorization: Bearer ${token}`,
    '--method', 'tools/call', '--tool-name', 'experiment']);
  assert.equal(call.code, 0, call.stderr);
  assert.match(JSON.parse(call.stdout).content[0].text, /# Experiment: homes/);
});
