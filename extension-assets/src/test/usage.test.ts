// What the panel shows of an LLM agent's spending and of the ensemble,
// checked on journal/testdata/llm-usage.jsonl folded here and by the Go side.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { fold } from '../fold';
import { JournalEvent, Snapshot, isJournalEvent, isSnapshot } from '../tokens';
import {
  anyUsage,
  byCost,
  ensembleMembers,
  ensembleStatus,
  formatCost,
  formatTokens,
  totalTokens,
  usageSummary
} from '../usage';

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

test('llm-usage: each trial shows the usage of its last event, the summary their sum', () => {
  const evs = events('llm-usage');
  const s = fold(evs);
  assert.ok(anyUsage(s.leaderboard));
  for (const r of s.leaderboard) {
    const last = [...evs].reverse().find(e => e.trial === r.trial && e.usage);
    assert.ok(last?.usage, `trial ${r.trial} has usage in the journal`);
    assert.deepEqual(r.usage, last.usage, `trial ${r.trial}: usage is the running total of its last event`);
  }
  // A failed trial spent tokens too, and they count.
  const failed = s.leaderboard.find(r => r.status === 'failed');
  assert.ok(failed && totalTokens(failed.usage) > 0);

  const sumTokens = s.leaderboard.reduce((a, r) => a + totalTokens(r.usage), 0);
  const sumCost = s.leaderboard.reduce((a, r) => a + (r.usage?.costUSD ?? 0), 0);
  assert.equal(totalTokens(s.usage), sumTokens);
  assert.ok(Math.abs((s.usage?.costUSD ?? 0) - sumCost) < 1e-12);
  // The same totals as the Go snapshot of the same journal.
  const g = golden('llm-usage');
  assert.equal(totalTokens(s.usage), totalTokens(g.usage));
  assert.equal(usageSummary(s.usage), usageSummary(g.usage));
  const u = g.usage;
  assert.ok(u);
  assert.equal(
    usageSummary(u),
    `${formatTokens(u.inputTokens + u.outputTokens)} tokens (${formatTokens(u.inputTokens)} in, ${formatTokens(u.outputTokens)} out) · ~${formatCost(u.costUSD)}`
  );
});

test('journals without usage show no usage', () => {
  for (const name of ['three-trials', 'running']) {
    const s = fold(events(name));
    assert.equal(anyUsage(s.leaderboard), false, name);
    assert.equal(usageSummary(s.usage), undefined, name);
  }
});

test('token counts and costs read as people write them', () => {
  assert.equal(formatTokens(0), '0');
  assert.equal(formatTokens(812), '812');
  assert.equal(formatTokens(6022), '6.0k');
  assert.equal(formatTokens(43892), '44k');
  assert.equal(formatTokens(1_250_000), '1.25M');
  assert.equal(formatTokens(Number.NaN), '—');
  assert.equal(formatCost(0), '$0');
  assert.equal(formatCost(0.02781), '$0.028');
  assert.equal(formatCost(0.19674), '$0.20');
  assert.equal(formatCost(12.4), '$12.40');
  assert.equal(formatCost(-1), '—');
});

test('sorting by cost puts trials without usage last either way', () => {
  const rows = fold(events('llm-usage')).leaderboard.map(r => ({ ...r }));
  rows.push({ trial: 9, title: 'no agent', notebook: '', status: 'kept' });
  const asc = byCost(rows, true);
  const desc = byCost(rows, false);
  assert.equal(asc.at(-1)?.trial, 9);
  assert.equal(desc.at(-1)?.trial, 9);
  const costs = (rs: typeof rows) => rs.filter(r => r.usage).map(r => r.usage?.costUSD ?? 0);
  assert.deepEqual(costs(asc), [...costs(asc)].sort((a, b) => a - b));
  assert.deepEqual(costs(desc), [...costs(asc)].reverse());
});

test('the ensemble says whether it is used, from the harness reason', () => {
  const evs = events('llm-usage');
  const e = [...evs].reverse().find(x => x.type === 'ensemble.updated');
  assert.ok(e);
  const s = fold(evs);
  const st = ensembleStatus(s.ensemble);
  assert.ok(st);
  assert.equal(st.used, (e.data as { used: boolean }).used, 'the reason agrees with the event data');
  assert.ok(st.why.length > 0 && !/^used/i.test(st.why));
  assert.equal(s.ensemble?.score?.holdout, e.score?.holdout);
  assert.equal(ensembleMembers(s.ensemble), '#2 50% · #1 25% · #4 25%');

  assert.deepEqual(ensembleStatus({ score: s.ensemble?.score, reason: 'not used: greedy selection kept trial 2 alone' }), {
    used: false,
    why: 'greedy selection kept trial 2 alone'
  });
  // The older example's reason has no verdict: the panel says it does not know.
  assert.equal(ensembleStatus(fold(events('three-trials')).ensemble)?.used, undefined);
  assert.equal(ensembleStatus(null), undefined);
  assert.equal(ensembleStatus({ reason: 'used: x' }), undefined, 'no score, nothing to show');
});
