// The dashboard's model: one experiment's whole journal, folded into the
// snapshot (the same fold as the panel's) plus what the leaderboard and a
// trial's page show beyond it: each trial's plan, tags, fix attempts and
// agent steps, and the ensemble's trajectory. It follows the experiment's
// event websocket from seq 0, so it needs nothing else to draw itself, and
// resumes after its last seq on a reconnect.

import { ISignal, Signal } from '@lumino/signaling';

import { SnapshotFold } from './fold';
import { PanelModel, SocketFactory, SocketHandle } from './model';
import { Connection, ServiceClient, Stream } from './service';
import { totalTokens } from './usage';
import {
  Comparison,
  JournalEvent,
  Score,
  Snapshot,
  StreamMessage,
  TrialCells,
  TrialRow,
  isStreamMessage,
  proposalTags
} from './tokens';

/** A cell that failed, or the agent's replacement for it. */
export interface FixAttempt {
  seq: number;
  kind: 'error' | 'fixed';
  cell?: number;
  /** error: "ename: evalue"; fixed: the new code. */
  text: string;
}

/** One `agent.step` event: what an interactive agent did between cells. */
export interface AgentStep {
  seq: number;
  time: string;
  cell?: number;
  text: string;
}

/** What the journal says about one trial beyond its leaderboard row. */
export interface TrialDetail {
  plan?: string;
  tags: Record<string, string>;
  fixes: FixAttempt[];
  steps: AgentStep[];
}

/** The ensemble after one ensemble.updated, placed after the highest trial seen by then. */
export interface EnsemblePoint {
  seq: number;
  afterTrial: number;
  score: Score;
  reason?: string;
  weights?: Record<string, number>;
}

/** The fold of a whole journal: the snapshot plus the dashboard's details. */
export class ExperimentIndex {
  constructor(from?: Snapshot) {
    this.fold = new SnapshotFold(from);
  }

  readonly fold: SnapshotFold;
  readonly trials = new Map<number, TrialDetail>();
  readonly ensembles: EnsemblePoint[] = [];

  get snapshot(): Snapshot {
    return this.fold.snapshot;
  }

  /** The trial's details (empty ones for a trial the journal only scored). */
  detail(n: number): TrialDetail {
    let d = this.trials.get(n);
    if (!d) {
      d = { tags: {}, fixes: [], steps: [] };
      this.trials.set(n, d);
    }
    return d;
  }

  apply(e: JournalEvent): void {
    this.fold.apply(e);
    if (e.trial !== undefined && e.trial > this._maxTrial) {
      this._maxTrial = e.trial;
    }
    switch (e.type) {
      case 'trial.proposed': {
        const d = this.detail(e.trial ?? 0);
        d.plan = e.plan ?? d.plan;
        d.tags = proposalTags(e.data);
        return;
      }
      case 'cell.error':
        this.detail(e.trial ?? 0).fixes.push({
          seq: e.seq,
          kind: 'error',
          cell: e.cell,
          text: [e.ename, e.evalue].filter(Boolean).join(': ') || (e.text ?? 'error')
        });
        return;
      case 'cell.fixed':
        this.detail(e.trial ?? 0).fixes.push({ seq: e.seq, kind: 'fixed', cell: e.cell, text: e.source ?? '' });
        return;
      case 'agent.step':
        if (e.trial !== undefined) {
          this.detail(e.trial).steps.push({ seq: e.seq, time: e.time, cell: e.cell, text: e.text ?? '' });
        }
        return;
      case 'ensemble.updated':
        if (e.score) {
          this.ensembles.push({ seq: e.seq, afterTrial: this._maxTrial, score: e.score, reason: e.reason, weights: e.weights });
        }
        return;
    }
  }

  private _maxTrial = 0;
}

/** The families, agents, statuses and tags present, for the filters. */
export function facets(index: ExperimentIndex): { status: string[]; family: string[]; agent: string[] } {
  const status = new Set<string>();
  const family = new Set<string>();
  const agent = new Set<string>();
  for (const r of index.snapshot.leaderboard) {
    status.add(r.status);
    if (r.agent) agent.add(r.agent);
    const f = index.trials.get(r.trial)?.tags.family;
    if (f) family.add(f);
  }
  const sorted = (s: Set<string>) => [...s].sort();
  return { status: sorted(status), family: sorted(family), agent: sorted(agent) };
}

/** A leaderboard column to sort by. */
export type SortKey = 'trial' | 'title' | 'status' | 'family' | 'cv' | 'holdout' | 'time' | 'tokens' | 'cost' | 'agent';

/** Filters of the leaderboard; '' matches everything. */
export interface Filters {
  status: string;
  family: string;
  agent: string;
  /** A tag: "key=value", or words found in any key or value. */
  tag: string;
}

/** Whether a row passes the filters, given its tags. */
export function passes(r: TrialRow, tags: Record<string, string>, f: Filters): boolean {
  if (f.status && r.status !== f.status) return false;
  if (f.family && tags.family !== f.family) return false;
  if (f.agent && (r.agent ?? '') !== f.agent) return false;
  const q = f.tag.trim().toLowerCase();
  if (!q) return true;
  const [k, v] = q.includes('=') ? q.split('=', 2) : [undefined, q];
  return Object.entries(tags).some(([tk, tv]) =>
    k !== undefined ? tk.toLowerCase() === k.trim() && tv.toLowerCase().includes(v.trim()) : `${tk} ${tv}`.toLowerCase().includes(q)
  );
}

/** Rows sorted by key; scores in the metric's direction, unscored last either way. */
export function sortRows(rows: TrialRow[], index: ExperimentIndex, key: SortKey, asc: boolean, direction: string): TrialRow[] {
  const val = (r: TrialRow): string | number | undefined => {
    switch (key) {
      case 'trial':
        return r.trial;
      case 'title':
        return r.title.toLowerCase();
      case 'status':
        return r.status;
      case 'family':
        return index.trials.get(r.trial)?.tags.family ?? '';
      case 'agent':
        return r.agent ?? '';
      case 'cv':
        // Best first when ascending, whichever the direction.
        return r.score ? (direction === 'maximize' ? -r.score.cv : r.score.cv) : undefined;
      case 'holdout':
        return r.score?.holdout ?? undefined;
      case 'time':
        return r.duration ?? 0;
      case 'tokens':
        return r.usage ? totalTokens(r.usage) : undefined;
      case 'cost':
        return r.usage ? r.usage.costUSD ?? 0 : undefined;
    }
  };
  return [...rows].sort((a, b) => {
    const va = val(a);
    const vb = val(b);
    if (va === undefined || vb === undefined) {
      return va === vb ? a.trial - b.trial : va === undefined ? 1 : -1;
    }
    const c = va < vb ? -1 : va > vb ? 1 : a.trial - b.trial;
    return asc ? c : -c;
  });
}

/** One experiment followed for a dashboard tab. */
export class DashboardModel {
  constructor(
    readonly experiment: string,
    private readonly _panel: PanelModel,
    options: { sockets?: SocketFactory } = {}
  ) {
    this._sockets = options.sockets ?? ((url, guard, handlers) => new Stream(url, guard, handlers));
    this._panel.changed.connect(this._connect, this);
    this._connect();
  }

  get index(): ExperimentIndex {
    return this._index;
  }

  get snapshot(): Snapshot {
    return this._index.snapshot;
  }

  /** Whether the first events arrived. */
  get loaded(): boolean {
    return this._loaded;
  }

  get live(): boolean {
    return this._live;
  }

  get error(): string {
    return this._error;
  }

  /** Emits after every change; with the event that caused it, when one did. */
  get changed(): ISignal<this, JournalEvent | undefined> {
    return this._changed;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** The Jupyter path of one of this experiment's notebooks. */
  notebookPath(notebook: string): string {
    return this._panel.notebookPath(notebook, this.experiment);
  }

  async trialCells(n: number): Promise<TrialCells> {
    return this._requireClient().trialCells(this.experiment, n);
  }

  async compare(a: number, b: number): Promise<Comparison> {
    return this._requireClient().compare(this.experiment, a, b);
  }

  /** Handles one message of the stream; public so tests can feed recorded ones. */
  receive(m: StreamMessage): void {
    if (m.experiment !== this.experiment) {
      return;
    }
    switch (m.kind) {
      case 'live':
        this._live = m.live;
        this._loaded = true;
        this._changed.emit(undefined);
        return;
      case 'error':
        this._error = m.error;
        this._changed.emit(undefined);
        return;
      case 'snapshot': {
        // Only when the journal was replaced: start over from its fold (the
        // details of earlier trials come back on the next reload).
        const { id: _id, live, ...snap } = m.snapshot;
        this._index = new ExperimentIndex(snap);
        this._live = live ?? false;
        this._loaded = true;
        this._changed.emit(undefined);
        return;
      }
    }
    const e = m.event;
    const last = this._index.snapshot.seq;
    if (e.seq <= last) {
      return;
    }
    if (e.seq > last + 1 && this._gapAt !== last) {
      this._gapAt = last;
      this._stream?.resync();
      return;
    }
    this._index.apply(e);
    this._loaded = true;
    this._changed.emit(e);
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._stream?.dispose();
    this._panel.changed.disconnect(this._connect, this);
    Signal.clearData(this);
  }

  private _requireClient(): ServiceClient {
    if (!this._client) {
      throw new Error('not connected to trialbook serve');
    }
    return this._client;
  }

  /** (Re)opens the stream when the panel's connection changed. */
  private _connect(): void {
    const c: Connection | undefined = this._panel.connection;
    const same = c && this._client && c.url === this._client.connection.url && c.token === this._client.connection.token;
    if (same || (!c && !this._client)) {
      return;
    }
    this._stream?.dispose();
    this._stream = undefined;
    this._client = c ? new ServiceClient(c) : undefined;
    const client = this._client;
    if (!client) {
      return;
    }
    this._stream = this._sockets<StreamMessage>(
      () => client.eventsUrl(this.experiment, this._index.snapshot.seq),
      isStreamMessage,
      {
        open: () => {
          this._error = '';
        },
        message: m => this.receive(m),
        closed: reason => {
          this._error = `${reason}; reconnecting`;
          this._changed.emit(undefined);
        }
      }
    );
  }

  private _sockets: SocketFactory;
  private _client: ServiceClient | undefined;
  private _stream: SocketHandle | undefined;
  private _index = new ExperimentIndex();
  private _loaded = false;
  private _live = false;
  private _error = '';
  private _gapAt = -1;
  private _disposed = false;
  private _changed = new Signal<this, JournalEvent | undefined>(this);
}
