// The dashboard's model: the whole journal folded into the snapshot (as the
// Go side folds it) plus each trial's plan, tags, fixes and agent steps; the
// leaderboard's filters and sorting; the guards on the compare answer.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { DashboardModel, ExperimentIndex, facets, passes, sortRows } from '../dashboardModel';
import { PanelModel, SocketFactory } from '../model';
import { JournalEvent, Snapshot, isComparison, isJournalEvent, isSnapshot, isTrialCells } from '../tokens';

const testdata = join(__dirname, '..', '..', '..', '..', 'journal', 'testdata');

function events(name: string): JournalEvent[] {
  return readFileSync(join(testdata, `${name}.jsonl`), 'utf8')
    .split('\n')
    .filter(l => l.trim() !== '')
    .map(l => {
      const v: unknown = JSON.parse(l);
      assert.ok(isJournalEvent(v));
      return v;
    });
}

function golden(name: string): Snapshot {
  const v: unknown = JSON.parse(readFileSync(join(testdata, `${name}.snapshot.json`), 'utf8'));
  assert.ok(isSnapshot(v));
  return v;
}

const json = (v: unknown) => JSON.parse(JSON.stringify(v));

test('the index folds a journal into the same snapshot as Go, with each trial\'s details', () => {
  for (const name of ['three-trials', 'running', 'llm-usage']) {
    const evs = events(name);
    const index = new ExperimentIndex();
    evs.forEach(e => index.apply(e));
    assert.deepEqual(json(index.snapshot), json(golden(name)), name);
    for (const e of evs.filter(e => e.type === 'trial.proposed')) {
      assert.equal(index.detail(e.trial ?? 0).plan, e.plan, `${name}: plan of trial ${e.trial}`);
    }
    const fixes = evs.filter(e => e.type === 'cell.error' || e.type === 'cell.fixed').length;
    assert.equal([...index.trials.values()].reduce((n, d) => n + d.fixes.length, 0), fixes, name);
    assert.equal(index.ensembles.length, evs.filter(e => e.type === 'ensemble.updated' && e.score).length, name);
  }
});

test('agent.step events are kept by trial and cell, unknown fields and all', () => {
  const index = new ExperimentIndex();
  const base = { time: '2026-12-03T10:00:00Z' };
  index.apply({ ...base, seq: 1, type: 'trial.proposed', trial: 1, title: 'a', notebook: 'trials/001-a.ipynb', data: { tags: { family: 'linear', config: '{}' } } });
  index.apply({ ...base, seq: 2, type: 'agent.step', trial: 1, text: 'read the data' });
  index.apply({ ...base, seq: 3, type: 'agent.step', trial: 1, cell: 2, text: 'fit', data: { tool: 'run_cell' } });
  index.apply({ ...base, seq: 4, type: 'agent.step', text: 'no trial: ignored' });
  const d = index.detail(1);
  assert.deepEqual(d.steps.map(s => [s.cell, s.text]), [[undefined, 'read the data'], [2, 'fit']]);
  assert.deepEqual(d.tags, { family: 'linear', config: '{}' });
  assert.deepEqual(facets(index), { status: ['proposed'], family: ['linear'], agent: [] });
});

test('filters and sorting', () => {
  const index = new ExperimentIndex();
  events('three-trials').forEach(e => index.apply(e));
  const rows = index.snapshot.leaderboard;
  const none = { status: '', family: '', agent: '', tag: '' };
  assert.equal(rows.filter(r => passes(r, {}, none)).length, rows.length);
  assert.deepEqual(
    rows.filter(r => passes(r, {}, { ...none, status: 'kept' })).map(r => r.trial),
    rows.filter(r => r.status === 'kept').map(r => r.trial)
  );
  const tags = { family: 'gbm', features: 'log target' };
  assert.ok(passes(rows[0], tags, { ...none, family: 'gbm' }));
  assert.ok(!passes(rows[0], tags, { ...none, family: 'linear' }));
  assert.ok(passes(rows[0], tags, { ...none, tag: 'features=log' }));
  assert.ok(passes(rows[0], tags, { ...none, tag: 'LOG TARGET' }));
  assert.ok(!passes(rows[0], tags, { ...none, tag: 'family=log' }));

  // CV ascending is best first (rmse: lowest), unscored last either way.
  const byCV = sortRows(rows, index, 'cv', true, 'minimize');
  const scored = byCV.filter(r => r.score).map(r => r.score!.cv);
  assert.deepEqual(scored, [...scored].sort((a, b) => a - b));
  assert.ok(!byCV.at(-1)!.score);
  const desc = sortRows(rows, index, 'cv', false, 'minimize');
  assert.ok(!desc.at(-1)!.score, 'unscored trials stay last when descending');
  assert.deepEqual(sortRows(rows, index, 'trial', false, 'minimize').map(r => r.trial), [3, 2, 1]);
  const max = sortRows(rows, index, 'cv', true, 'maximize').filter(r => r.score).map(r => r.score!.cv);
  assert.deepEqual(max, [...max].sort((a, b) => b - a));
});

test('the model follows from seq 0, ignores replays and resyncs once on a gap', () => {
  let resyncs = 0;
  let url = '';
  const sockets: SocketFactory = (u, _guard, _handlers) => {
    url = u();
    return { dispose: () => undefined, resync: () => resyncs++ };
  };
  const panel = new PanelModel({ sockets });
  void panel.configure({ url: 'http://127.0.0.1:1', token: 't' });
  const m = new DashboardModel('houses', panel, { sockets });
  assert.match(url, /experiment=houses&after=0&token=t$/);
  const evs = events('three-trials');
  m.receive({ kind: 'live', experiment: 'houses', live: true });
  for (const e of evs.slice(0, 10)) m.receive({ kind: 'event', experiment: 'houses', event: e });
  m.receive({ kind: 'event', experiment: 'houses', event: evs[5] });
  assert.equal(m.snapshot.seq, evs[9].seq);
  m.receive({ kind: 'event', experiment: 'houses', event: evs[12] });
  assert.equal(resyncs, 1);
  assert.equal(m.snapshot.seq, evs[9].seq);
  for (const e of evs.slice(10)) m.receive({ kind: 'event', experiment: 'houses', event: e });
  assert.deepEqual(json(m.snapshot), json(golden('three-trials')));
  m.receive({ kind: 'event', experiment: 'other', event: { seq: 999, time: '', type: 'experiment.failed' } });
  assert.equal(m.snapshot.seq, evs.at(-1)!.seq);
  m.dispose();
  panel.dispose();
});

test('the guards accept what lab writes and refuse what it does not', () => {
  const cells = { trial: 1, notebook: 'trials/001.ipynb', written: true, cells: [{ index: 1, type: 'code', source: 'x', outputs: [{ type: 'image', mime: 'image/png', data: 'AA==' }] }] };
  assert.ok(isTrialCells(cells));
  assert.ok(!isTrialCells({ ...cells, cells: [{ index: 'one' }] }));
  const side = { trial: 1, title: 't', notebook: 'n', status: 'kept', score: null, duration: 0, tags: { family: 'x' } };
  const cmp = {
    metric: 'rmse',
    direction: 'minimize',
    a: side,
    b: { ...side, trial: 2 },
    cells: [{ index: 2, change: 'changed', lines: [{ op: '-', text: 'a', a: 1 }, { op: '+', text: 'b', b: 1 }] }],
    tags: [{ key: 'family', a: 'x', b: null, same: false }],
    params: [],
    folds: [{ fold: 1, a: 1, b: 2, diff: -1, improvement: 1 }],
    test: { improvements: [1, 2], mean: 1.5, se: 0.5, wins: 2, k: 1 },
    keep: true,
    reason: 'beats the best'
  };
  assert.ok(isComparison(cmp));
  assert.ok(isComparison({ ...cmp, test: null, keep: undefined, reason: undefined }));
  assert.ok(!isComparison({ ...cmp, cells: [{ index: 2, change: 'moved', lines: [] }] }));
  assert.ok(!isComparison({ ...cmp, folds: [{ fold: 1 }] }));
});
