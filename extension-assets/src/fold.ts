// The fold of journal events into a snapshot: the same rules as
// journal.Snapshot.Apply in journal/snapshot.go, so that a snapshot from the
// service plus the events after it gives the state a fresh snapshot would.
// The unit tests fold journal/testdata/*.jsonl here and compare with the
// snapshots the Go side folds from the same files.

import {
  Counts,
  JournalEvent,
  RunningTrial,
  Snapshot,
  TrialRow,
  Usage
} from './tokens';

/** How much of a running cell's output a snapshot keeps (journal.OutputTail). */
export const OUTPUT_TAIL = 2000;

const FINAL: Record<string, string> = {
  'trial.kept': 'kept',
  'trial.discarded': 'discarded',
  'trial.failed': 'failed',
  'trial.interrupted': 'interrupted'
};

function ms(iso: string | undefined): number | undefined {
  if (!iso) {
    return undefined;
  }
  const t = Date.parse(iso);
  return Number.isNaN(t) ? undefined : t;
}

function firstNonEmpty(...ss: (string | undefined)[]): string {
  for (const s of ss) {
    if (s && s !== ': ') {
      return s;
    }
  }
  return '';
}

function tail(s: string, n: number): string {
  return s.length <= n ? s : s.slice(s.length - n);
}

function rank(t: TrialRow): number {
  if (t.status === 'failed' || t.status === 'interrupted') {
    return 2;
  }
  return t.score ? 0 : 1;
}

/** The leaderboard's order: scored best first, then unscored, failed and interrupted last. */
export function rowLess(a: TrialRow, b: TrialRow, direction: string): boolean {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) {
    return ra < rb;
  }
  if (ra === 0 && a.score && b.score && a.score.cv !== b.score.cv) {
    const d = a.score.direction || direction;
    return d === 'maximize' ? a.score.cv > b.score.cv : a.score.cv < b.score.cv;
  }
  return a.trial < b.trial;
}

/**
 * A snapshot that events can be folded into. It starts from nothing or from a
 * snapshot the service sent, and keeps the index that folding needs.
 */
export class SnapshotFold {
  constructor(from?: Snapshot) {
    this._s = from ? normalize(from) : emptySnapshot();
    for (const r of this._s.leaderboard) {
      this._trials.set(r.trial, { ...r });
    }
    this._bestTrial = this._s.best?.trial ?? 0;
    this._elapsedMs = (this._s.elapsed ?? 0) * 1000;
    const updated = ms(this._s.updatedAt);
    if (this._s.status === 'running' && updated !== undefined) {
      this._runningSince = updated - this._elapsedMs;
      this._elapsedMs = 0;
    }
  }

  /** The folded state. Treat it as read-only; it changes on apply. */
  get snapshot(): Snapshot {
    return this._s;
  }

  /** Folds one more event in. Events at or below seq are ignored. */
  apply(e: JournalEvent): void {
    const s = this._s;
    if (e.seq !== 0 && e.seq <= s.seq) {
      return;
    }
    s.seq = e.seq;
    const last = ms(s.updatedAt);
    const now = ms(e.time);
    if (now !== undefined) {
      s.updatedAt = e.time;
    }
    switch (e.type) {
      case 'experiment.created':
        if (e.problem) {
          s.problem = { ...e.problem };
          s.counts.total = e.problem.trials ?? 0;
        }
        s.createdAt = e.time;
        break;
      case 'experiment.started':
      case 'experiment.resumed':
        // A run may change the budget (trialbook run --trials N).
        if (e.problem) {
          s.problem = { ...e.problem };
          s.counts.total = e.problem.trials ?? 0;
        }
        if (!s.startedAt) {
          s.startedAt = e.time;
        }
        // A writer killed while running never stopped the clock: its time
        // counts up to its last event.
        this._stopClock(last);
        this._interruptRunning(e.time, 'the experiment was restarted');
        s.status = 'running';
        delete s.error;
        this._runningSince = now;
        break;
      case 'experiment.paused':
      case 'experiment.finished':
      case 'experiment.failed':
        this._stopClock(now);
        this._interruptRunning(e.time, 'the experiment stopped');
        s.status = e.type.slice('experiment.'.length);
        if (e.type === 'experiment.failed') {
          s.error = firstNonEmpty(e.reason, e.evalue);
        }
        break;
      case 'ensemble.updated':
        s.ensemble = { score: e.score, weights: e.weights, notebook: e.notebook, reason: e.reason };
        break;
      case 'report.ready':
        s.report = e.notebook;
        break;
    }
    if ((e.trial ?? 0) > 0) {
      this._applyTrial(e, now);
    }
    let elapsed = this._elapsedMs;
    const updated = ms(s.updatedAt);
    if (
      s.status === 'running' &&
      this._runningSince !== undefined &&
      updated !== undefined &&
      updated > this._runningSince
    ) {
      elapsed += updated - this._runningSince;
    }
    s.elapsed = elapsed / 1000;
    this._refresh();
  }

  private _applyTrial(e: JournalEvent, now: number | undefined): void {
    const n = e.trial ?? 0;
    let t = this._trials.get(n);
    if (!t) {
      t = { trial: n, title: '', notebook: '', status: 'proposed', score: null, duration: 0 };
      this._trials.set(n, t);
    }
    if (e.title) {
      t.title = e.title;
    }
    if (e.notebook && e.type !== 'ensemble.updated' && e.type !== 'report.ready') {
      t.notebook = e.notebook;
    }
    if (e.agent) {
      t.agent = e.agent;
    }
    if (e.usage) {
      t.usage = { ...e.usage }; // usage on a trial's events is its running total
    }
    if (e.score && e.type !== 'ensemble.updated') {
      t.score = e.score;
    }
    if (e.duration && !e.type.startsWith('cell.')) {
      t.duration = e.duration; // a cell event's duration is the cell's
    }
    switch (e.type) {
      case 'trial.proposed':
        t.status = 'proposed';
        break;
      case 'trial.started':
        t.status = 'running';
        t.startedAt = e.time;
        delete t.reason;
        this._running(t);
        break;
      case 'trial.finished':
        t.status = 'scored';
        t.finishedAt = e.time;
        this._stopRunning(t.trial);
        break;
      case 'trial.kept':
      case 'trial.discarded':
      case 'trial.failed':
      case 'trial.interrupted': {
        t.status = FINAL[e.type];
        const reason = firstNonEmpty(e.reason, e.evalue);
        if (reason) {
          t.reason = reason;
        } else {
          delete t.reason;
        }
        if (!t.finishedAt || e.type === 'trial.failed' || e.type === 'trial.interrupted') {
          t.finishedAt = e.time;
        }
        const started = ms(t.startedAt);
        if (!t.duration && started !== undefined && now !== undefined) {
          t.duration = (now - started) / 1000;
        }
        this._stopRunning(t.trial);
        if ((e.best ?? 0) > 0) {
          this._bestTrial = e.best ?? 0;
        }
        break;
      }
      case 'cell.started': {
        const r = this._running(t);
        r.cell = e.cell ?? null;
        r.source = e.source ?? '';
        r.text = '';
        break;
      }
      case 'cell.output': {
        const r = this._running(t);
        if (e.cell !== undefined && e.cell !== null) {
          r.cell = e.cell;
        }
        r.text = tail(e.text ?? '', OUTPUT_TAIL);
        break;
      }
      case 'cell.fixed': {
        t.fixes = (t.fixes ?? 0) + 1;
        const r = this._running(t);
        r.cell = e.cell ?? null;
        r.source = e.source ?? '';
        r.text = '';
        break;
      }
      case 'cell.error': {
        const r = this._running(t);
        r.text = tail(firstNonEmpty(e.text, `${e.ename ?? ''}: ${e.evalue ?? ''}`), OUTPUT_TAIL);
        break;
      }
    }
  }

  /** t's entry in the running list, added if needed. */
  private _running(t: TrialRow): RunningTrial {
    const s = this._s;
    const found = s.running.find(r => r.trial === t.trial);
    if (found) {
      found.title = t.title;
      found.notebook = t.notebook;
      return found;
    }
    if (t.status === 'proposed') {
      t.status = 'running';
    }
    const r: RunningTrial = {
      trial: t.trial,
      title: t.title,
      notebook: t.notebook,
      cell: null,
      source: '',
      text: ''
    };
    s.running.push(r);
    s.running.sort((a, b) => a.trial - b.trial);
    return r;
  }

  private _stopRunning(trial: number): void {
    this._s.running = this._s.running.filter(r => r.trial !== trial);
  }

  private _interruptRunning(at: string, why: string): void {
    for (const t of this._trials.values()) {
      if (t.status === 'running') {
        t.status = 'interrupted';
        t.reason = why;
        t.finishedAt = at;
      }
    }
    this._s.running = [];
  }

  private _stopClock(at: number | undefined): void {
    if (
      this._s.status === 'running' &&
      this._runningSince !== undefined &&
      at !== undefined &&
      at > this._runningSince
    ) {
      this._elapsedMs += at - this._runningSince;
    }
    this._runningSince = undefined;
  }

  private _refresh(): void {
    const s = this._s;
    const dir = s.problem?.direction ?? '';
    const rows: TrialRow[] = [];
    const c: Counts = {
      total: s.counts.total,
      done: 0,
      kept: 0,
      discarded: 0,
      failed: 0,
      interrupted: 0,
      running: 0
    };
    const usage: Usage = { inputTokens: 0, outputTokens: 0, costUSD: 0 };
    for (const t of this._trials.values()) {
      rows.push({ ...t });
      switch (t.status) {
        case 'kept':
          c.kept++;
          break;
        case 'discarded':
          c.discarded++;
          break;
        case 'failed':
          c.failed++;
          break;
        case 'interrupted':
          c.interrupted = (c.interrupted ?? 0) + 1;
          break;
      }
      if (t.usage) {
        usage.inputTokens += t.usage.inputTokens ?? 0;
        usage.outputTokens += t.usage.outputTokens ?? 0;
        usage.costUSD += t.usage.costUSD ?? 0;
      }
    }
    // Interrupted trials use no budget: done never counts them.
    c.done = c.kept + c.discarded + c.failed;
    c.running = s.running.length;
    rows.sort((a, b) => (rowLess(a, b, dir) ? -1 : rowLess(b, a, dir) ? 1 : 0));
    s.leaderboard = rows;
    s.counts = c;
    s.usage = usage;
    s.best = null;
    const b = this._trials.get(this._bestTrial);
    if (b && b.score) {
      s.best = { ...b };
      return;
    }
    // No decision named the best: take the best-scoring kept trial.
    const kept = rows.find(r => r.status === 'kept' && r.score);
    if (kept) {
      s.best = { ...kept };
    }
  }

  private _s: Snapshot;
  private _trials = new Map<number, TrialRow>();
  private _bestTrial = 0;
  private _runningSince: number | undefined;
  private _elapsedMs = 0;
}

/** The snapshot of an empty journal. */
export function emptySnapshot(): Snapshot {
  return {
    seq: 0,
    problem: null,
    status: 'created',
    elapsed: 0,
    counts: { total: 0, done: 0, kept: 0, discarded: 0, failed: 0, interrupted: 0, running: 0 },
    best: null,
    leaderboard: [],
    running: [],
    ensemble: null,
    usage: { inputTokens: 0, outputTokens: 0, costUSD: 0 }
  };
}

/** A deep copy of a snapshot from the service with every collection filled in. */
export function normalize(from: Snapshot): Snapshot {
  const s = JSON.parse(JSON.stringify(from)) as Snapshot;
  const counts: Partial<Counts> = s.counts ?? {};
  s.counts = {
    total: counts.total ?? s.problem?.trials ?? 0,
    done: counts.done ?? 0,
    kept: counts.kept ?? 0,
    discarded: counts.discarded ?? 0,
    failed: counts.failed ?? 0,
    interrupted: counts.interrupted ?? 0,
    running: counts.running ?? 0
  };
  s.status = s.status || 'created';
  s.leaderboard = s.leaderboard ?? [];
  s.running = s.running ?? [];
  return s;
}

/** Folds events, in order, from an empty journal. */
export function fold(events: JournalEvent[]): Snapshot {
  const f = new SnapshotFold();
  for (const e of events) {
    f.apply(e);
  }
  return f.snapshot;
}
