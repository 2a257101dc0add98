// The panel's fold and model against the example journals the Go side
// decodes (journal/testdata): each NAME.jsonl folded here must give exactly
// NAME.snapshot.json, the snapshot journal.Fold writes for it.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { SnapshotFold, fold } from '../fold';
import { PanelModel, SocketFactory, jupyterPath } from '../model';
import { StreamHandlers, backoff, parseServiceUrl } from '../service';
import {
  JournalEvent,
  Snapshot,
  StreamMessage,
  isJournalEvent,
  isSnapshot,
  isStreamMessage
} from '../tokens';

// lib/node/test -> extension-assets -> repository root
const testdata = join(__dirname, '..', '..', '..', '..', 'journal', 'testdata');

function events(name: string): JournalEvent[] {
  const lines = readFileSync(join(testdata, `${name}.jsonl`), 'utf8').split('\n');
  return lines
    .filter(l => l.trim() !== '')
    .map((l, i) => {
      const v: unknown = JSON.parse(l);
      assert.ok(isJournalEvent(v), `${name}.jsonl line ${i + 1} fails isJournalEvent`);
      return v;
    });
}

function golden(name: string): Snapshot {
  const v: unknown = JSON.parse(readFileSync(join(testdata, `${name}.snapshot.json`), 'utf8'));
  assert.ok(isSnapshot(v), `${name}.snapshot.json fails isSnapshot`);
  return v;
}

/** The snapshot as the service would send it: JSON, without undefined fields. */
function wire(s: Snapshot): Snapshot {
  return JSON.parse(JSON.stringify(s)) as Snapshot;
}

const journals = readdirSync(testdata)
  .filter(f => f.endsWith('.snapshot.json'))
  .map(f => f.slice(0, -'.snapshot.json'.length));

test('there are example journals to check against', () => {
  assert.ok(journals.length >= 2, `found ${journals.join(', ')} in ${testdata}`);
});

for (const name of journals) {
  test(`${name}: folding every event gives the Go snapshot`, () => {
    assert.deepEqual(wire(fold(events(name))), golden(name));
  });

  test(`${name}: a snapshot at any seq plus the events after it gives the Go snapshot`, () => {
    const evs = events(name);
    for (let k = 0; k <= evs.length; k++) {
      const f = new SnapshotFold(wire(fold(evs.slice(0, k))));
      for (const e of evs.slice(k)) {
        f.apply(e);
      }
      assert.deepEqual(wire(f.snapshot), golden(name), `resumed after ${k} events`);
    }
  });

  test(`${name}: the model ignores replayed events and resyncs on a gap`, () => {
    const evs = events(name);
    let resyncs = 0;
    const model = new PanelModel({
      sockets: () => ({ dispose: () => undefined, resync: () => resyncs++ })
    });
    const id = 'exp';
    void model.configure({ url: 'http://127.0.0.1:1', token: 't' }).catch(() => undefined);
    try {
      model.select(id);
      feed(model, id, evs, () => resyncs);
    } finally {
      model.dispose();
    }
    function feed(model: PanelModel, id: string, evs: JournalEvent[], resyncCount: () => number): void {
    const half = Math.floor(evs.length / 2);
    model.receive({ kind: 'snapshot', experiment: id, snapshot: wire(fold(evs.slice(0, half))) });
    // An overlapping replay after a reconnect: events from half-3 on, twice.
    for (const e of [...evs.slice(half - 3), ...evs.slice(half - 3)]) {
      assert.ok(isStreamMessage({ kind: 'event', experiment: id, event: e }));
      model.receive({ kind: 'event', experiment: id, event: e });
    }
    assert.deepEqual(wire(model.snapshot as Snapshot), golden(name));
    assert.equal(resyncCount(), 0);
    assert.equal(model.lastSeq, evs[evs.length - 1].seq);

    // Events for another experiment are not ours.
    const other = { ...evs[0], seq: model.lastSeq + 1, type: 'experiment.failed' };
    model.receive({ kind: 'event', experiment: 'other', event: other });
    assert.equal(model.lastSeq, evs[evs.length - 1].seq);

    // A gap asks the stream to resync instead of folding past it.
    const gap = { ...evs[0], seq: model.lastSeq + 5, type: 'experiment.failed' };
    model.receive({ kind: 'event', experiment: id, event: gap });
    assert.equal(resyncCount(), 1);
    assert.equal(model.snapshot?.status, golden(name).status);
    }
  });
}

test('three-trials: the state after each event is what the panel shows', () => {
  const evs = events('three-trials');
  const f = new SnapshotFold();
  let sawRunningCell = false;
  for (const e of evs) {
    f.apply(e);
    const s = f.snapshot;
    assert.equal(s.seq, e.seq);
    assert.equal(s.counts.running, s.running.length);
    assert.equal(
      s.counts.done,
      s.counts.kept + s.counts.discarded + s.counts.failed + (s.counts.interrupted ?? 0)
    );
    if (e.type === 'cell.output') {
      const r = s.running.find(x => x.trial === e.trial);
      assert.ok(r, `trial ${e.trial} is running at seq ${e.seq}`);
      assert.equal(r.cell, e.cell);
      assert.ok(r.text?.endsWith(e.text ?? ''), 'the tail ends with the latest output');
      sawRunningCell = true;
    }
  }
  assert.ok(sawRunningCell);
  const last = [...evs].reverse().find(e => e.type === 'trial.kept' || e.type === 'trial.discarded');
  assert.equal(f.snapshot.best?.trial, last?.best);
});

test('type guards refuse what the panel cannot draw', () => {
  const e = events('three-trials')[0];
  assert.ok(isJournalEvent(e));
  assert.ok(!isJournalEvent({ ...e, seq: '1' }));
  assert.ok(!isJournalEvent({ ...e, type: undefined }));
  assert.ok(!isJournalEvent({ ...e, score: { cv: 'high' } }));
  assert.ok(!isJournalEvent(null));
  assert.ok(!isJournalEvent([e]));
  assert.ok(isJournalEvent({ ...e, somethingNew: { x: 1 } }), 'unknown fields are kept');
  assert.ok(!isSnapshot({ seq: 1, leaderboard: [{ title: 'no trial number' }] }));
  assert.ok(!isStreamMessage({ kind: 'event', experiment: 'x', event: { seq: 1 } }));
  assert.ok(!isStreamMessage({ kind: 'hello', experiment: 'x' }));
});

test('notebook paths are joined onto the Jupyter root', () => {
  const cases: [string, string, string, string][] = [
    ['', 'house', 'trials/001-a.ipynb', 'house/trials/001-a.ipynb'],
    ['work/exps', 'house', 'trials/001-a.ipynb', 'work/exps/house/trials/001-a.ipynb'],
    ['/work/', 'a/b', './trials/x.ipynb', 'work/a/b/trials/x.ipynb'],
    ['', '.', 'report.ipynb', 'report.ipynb']
  ];
  for (const [root, exp, nb, want] of cases) {
    assert.equal(jupyterPath(root, exp, nb), want);
  }
});

test('the URL serve prints gives the connection', () => {
  assert.deepEqual(parseServiceUrl('http://127.0.0.1:8765/?token=abc'), { url: 'http://127.0.0.1:8765', token: 'abc' });
  assert.deepEqual(parseServiceUrl('  http://localhost:9/base/?token=t  '), { url: 'http://localhost:9/base', token: 't' });
  assert.deepEqual(parseServiceUrl('http://127.0.0.1:8765'), { url: 'http://127.0.0.1:8765', token: '' });
  assert.equal(parseServiceUrl('127.0.0.1:8765'), undefined);
  assert.equal(parseServiceUrl('file:///etc/passwd'), undefined);
});

test('reconnect delays grow to a cap, with jitter', () => {
  for (let attempt = 0; attempt < 12; attempt++) {
    const base = Math.min(8000, 250 * 2 ** Math.min(attempt, 5));
    const d = backoff(attempt);
    assert.ok(d >= base * 0.75 && d <= base * 1.25, `attempt ${attempt}: ${d} ms`);
  }
  assert.ok(backoff(20) <= 10000);
});

test('the experiment stream asks for a snapshot first, then resumes after the last seq', async () => {
  type Opened = { url: () => string; guard: (v: unknown) => boolean; handlers: StreamHandlers<StreamMessage> };
  const opened: Opened[] = [];
  const sockets: SocketFactory = <T>(url: () => string, guard: (v: unknown) => v is T, handlers: StreamHandlers<T>) => {
    opened.push({ url, guard, handlers: handlers as unknown as StreamHandlers<StreamMessage> });
    return { dispose: () => undefined, resync: () => undefined };
  };
  const model = new PanelModel({ sockets });
  try {
    // Nothing listens on port 1: the list request fails, the stream still opens.
    await model.configure({ url: 'http://127.0.0.1:1', token: 'tok' });
    assert.equal(model.link, 'unreachable');
    model.select('team/churn');
    const s = opened.find(o => o.url().includes('experiment='));
    assert.ok(s, 'an experiment stream was opened');
    const first = new URL(s.url());
    assert.equal(first.protocol, 'ws:');
    assert.equal(first.pathname, '/api/events');
    assert.equal(first.searchParams.get('experiment'), 'team/churn');
    assert.equal(first.searchParams.get('token'), 'tok');
    assert.equal(first.searchParams.get('after'), null, 'no snapshot yet: ask for one');

    const evs = events('three-trials');
    s.handlers.message({ kind: 'snapshot', experiment: 'team/churn', snapshot: { ...wire(fold(evs.slice(0, 10))), id: 'team/churn', live: true } });
    assert.equal(model.live, true);
    assert.equal(new URL(s.url()).searchParams.get('after'), String(evs[9].seq));
    s.handlers.closed('connection lost', 500);
    assert.equal(model.link, 'reconnecting');
    for (const e of evs.slice(10)) {
      s.handlers.message({ kind: 'event', experiment: 'team/churn', event: e });
    }
    s.handlers.message({ kind: 'live', experiment: 'team/churn', live: false });
    assert.equal(model.live, false);
    assert.equal(new URL(s.url()).searchParams.get('after'), String(evs.at(-1)?.seq));
    assert.deepEqual(wire(model.snapshot as Snapshot), golden('three-trials'));
    s.handlers.open();
    assert.equal(model.link, 'connected');
    assert.ok(!s.guard({ kind: 'event', experiment: 'team/churn', event: { seq: 1 } }));
  } finally {
    model.dispose();
  }
});
