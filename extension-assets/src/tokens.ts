// Wire types shared with the trialbook service, and the panel's command ids.
//
// The shapes mirror journal/event.go (Event) and journal/snapshot.go
// (Snapshot, TrialRow, ...) field for field; docs/api.md describes the HTTP
// and websocket API. Every value that arrives from the service goes through a
// type guard below before the rest of the extension sees it: nothing typed
// `any` crosses the boundary.

/** The JupyterLab plugin id; also the settings key written by `trialbook lab install`. */
export const PLUGIN_ID = 'trialbook-panel:plugin';

/** Command ids. */
export namespace CommandIDs {
  export const open = 'trialbook:open-panel';
  export const openNotebook = 'trialbook:open-notebook';
  export const reconnect = 'trialbook:reconnect';
  export const openDashboard = 'trialbook:open-dashboard';
}

/** One journal event (journal.Event). Fields beyond seq, time and type are optional. */
export interface JournalEvent {
  seq: number;
  time: string;
  type: string;
  trial?: number;
  title?: string;
  notebook?: string;
  plan?: string;
  agent?: string;
  cell?: number;
  source?: string;
  text?: string;
  ename?: string;
  evalue?: string;
  kernel?: string;
  score?: Score;
  best?: number;
  reason?: string;
  /** Seconds. */
  duration?: number;
  usage?: Usage;
  weights?: Record<string, number>;
  problem?: ProblemSummary;
  data?: unknown;
}

/** journal.Score: what the harness computed from a trial's predictions. */
export interface Score {
  metric: string;
  direction: string;
  cv: number;
  cvStd: number;
  folds: number[];
  holdout?: number;
}

/** journal.Usage. */
export interface Usage {
  inputTokens: number;
  outputTokens: number;
  costUSD: number;
}

/** journal.ProblemSummary. */
export interface ProblemSummary {
  name: string;
  task: string;
  target: string;
  metric: string;
  direction: string;
  validation: string;
  trials: number;
  timeBudget?: string;
  agent: string;
}

/** A trial's state in the snapshot. */
export type TrialStatus =
  | 'proposed'
  | 'running'
  | 'scored'
  | 'kept'
  | 'discarded'
  | 'failed'
  | 'interrupted';

/** journal.TrialRow: one row of the leaderboard. */
export interface TrialRow {
  trial: number;
  title: string;
  notebook: string;
  status: string;
  reason?: string;
  score?: Score | null;
  /** Seconds. */
  duration?: number;
  usage?: Usage | null;
  agent?: string;
  startedAt?: string;
  finishedAt?: string;
  /** Cells an agent fixed after an error. */
  fixes?: number;
}

/** journal.RunningTrial: a trial executing now. */
export interface RunningTrial {
  trial: number;
  title: string;
  notebook?: string;
  /** The index of the cell executing now; null between cells. */
  cell?: number | null;
  /** The code of the cell executing now. */
  source?: string;
  /** The tail of the output of the cell executing now. */
  text?: string;
}

/** journal.Counts. */
export interface Counts {
  /** The trial budget. */
  total: number;
  /** kept + discarded + failed: what the budget counts. */
  done: number;
  kept: number;
  discarded: number;
  failed: number;
  /** Counted apart from done: proposed again, no budget used. */
  interrupted?: number;
  running: number;
}

/** journal.EnsembleRow. */
export interface EnsembleRow {
  score?: Score | null;
  weights?: Record<string, number> | null;
  notebook?: string;
  reason?: string;
}

/** journal.Snapshot: the fold of an experiment's events up to seq. */
export interface Snapshot {
  seq: number;
  problem?: ProblemSummary | null;
  /** created, running, paused, finished, failed */
  status: string;
  createdAt?: string;
  startedAt?: string;
  updatedAt?: string;
  /** Seconds spent running (paused spans excluded) up to updatedAt. */
  elapsed?: number;
  counts: Counts;
  best?: TrialRow | null;
  leaderboard: TrialRow[];
  running: RunningTrial[];
  ensemble?: EnsembleRow | null;
  /** The report notebook's path relative to the experiment, once ready. */
  report?: string;
  usage?: Usage | null;
  /** experiment.failed: why. */
  error?: string;
}

/** bridge.View: a snapshot plus what only the service knows. */
export interface View extends Snapshot {
  id?: string;
  /** A process holds the experiment's lock now: it is really running. */
  live?: boolean;
}

/** bridge.Summary: one row of the experiment list. */
export interface ExperimentSummary {
  id: string;
  name?: string;
  status?: string;
  live?: boolean;
  seq?: number;
  problem?: ProblemSummary | null;
  counts?: Counts;
  best?: TrialRow | null;
  updatedAt?: string;
  /** The journal cannot be read (names file:line). */
  error?: string;
}

/** bridge.NewExperiment: the body of POST /api/experiments. Paths are relative to the service's root. */
export interface NewExperiment {
  /** The experiment folder to create. */
  name: string;
  data: string;
  target: string;
  task?: string;
  metric?: string;
  /** kfold, stratified_kfold, group_kfold (needs group), time_series (needs time) */
  validation?: string;
  folds?: number;
  group?: string;
  time?: string;
  trials?: number;
  /** A Go duration: 30m, 1h30m. */
  timeBudget?: string;
  featureResearch: boolean;
  explain: boolean;
  context?: string;
  agent?: string;
}

/** bridge.Created: the answer to POST /api/experiments. */
export interface Created {
  id: string;
  problem?: string;
  agentsMd: string;
  /** Settings guessed from the data, in words. */
  guessed?: string[];
}

/** A message on an experiment's event websocket, or on the list websocket. */
export type StreamMessage =
  | { kind: 'snapshot'; experiment: string; snapshot: View }
  | { kind: 'event'; experiment: string; event: JournalEvent }
  | { kind: 'live'; experiment: string; live: boolean }
  | { kind: 'error'; experiment: string; error: string };

/** The list websocket's message: the whole list, again whenever it changes. */
export interface ListMessage {
  kind: 'experiments';
  experiments: ExperimentSummary[];
}

// ---------------------------------------------------------------------------
// Type guards. They check what the panel relies on and let unknown extra
// fields through (the service may add fields; it never renames them).

type Dict = { [key: string]: unknown };

function isDict(v: unknown): v is Dict {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optional(d: Dict, key: string, check: (v: unknown) => boolean): boolean {
  return d[key] === undefined || d[key] === null || check(d[key]);
}

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isString = (v: unknown): v is string => typeof v === 'string';
const isBool = (v: unknown): v is boolean => typeof v === 'boolean';

function isNumberMap(v: unknown): v is Record<string, number> {
  return isDict(v) && Object.values(v).every(isNumber);
}

export function isScore(v: unknown): v is Score {
  return (
    isDict(v) &&
    isString(v.metric) &&
    isString(v.direction) &&
    isNumber(v.cv) &&
    optional(v, 'cvStd', isNumber) &&
    optional(v, 'folds', f => Array.isArray(f) && f.every(isNumber)) &&
    optional(v, 'holdout', isNumber)
  );
}

export function isUsage(v: unknown): v is Usage {
  return (
    isDict(v) &&
    optional(v, 'inputTokens', isNumber) &&
    optional(v, 'outputTokens', isNumber) &&
    optional(v, 'costUSD', isNumber)
  );
}

export function isProblemSummary(v: unknown): v is ProblemSummary {
  return (
    isDict(v) &&
    optional(v, 'name', isString) &&
    optional(v, 'task', isString) &&
    optional(v, 'target', isString) &&
    optional(v, 'metric', isString) &&
    optional(v, 'direction', isString) &&
    optional(v, 'validation', isString) &&
    optional(v, 'trials', isNumber) &&
    optional(v, 'timeBudget', isString) &&
    optional(v, 'agent', isString)
  );
}

export function isJournalEvent(v: unknown): v is JournalEvent {
  return (
    isDict(v) &&
    isNumber(v.seq) &&
    isString(v.time) &&
    isString(v.type) &&
    optional(v, 'trial', isNumber) &&
    optional(v, 'title', isString) &&
    optional(v, 'notebook', isString) &&
    optional(v, 'plan', isString) &&
    optional(v, 'agent', isString) &&
    optional(v, 'cell', isNumber) &&
    optional(v, 'source', isString) &&
    optional(v, 'text', isString) &&
    optional(v, 'ename', isString) &&
    optional(v, 'evalue', isString) &&
    optional(v, 'kernel', isString) &&
    optional(v, 'score', isScore) &&
    optional(v, 'best', isNumber) &&
    optional(v, 'reason', isString) &&
    optional(v, 'duration', isNumber) &&
    optional(v, 'usage', isUsage) &&
    optional(v, 'weights', isNumberMap) &&
    optional(v, 'problem', isProblemSummary)
  );
}

export function isTrialRow(v: unknown): v is TrialRow {
  return (
    isDict(v) &&
    isNumber(v.trial) &&
    optional(v, 'title', isString) &&
    optional(v, 'notebook', isString) &&
    optional(v, 'status', isString) &&
    optional(v, 'reason', isString) &&
    optional(v, 'score', isScore) &&
    optional(v, 'duration', isNumber) &&
    optional(v, 'usage', isUsage) &&
    optional(v, 'agent', isString) &&
    optional(v, 'startedAt', isString) &&
    optional(v, 'finishedAt', isString) &&
    optional(v, 'fixes', isNumber)
  );
}

export function isRunningTrial(v: unknown): v is RunningTrial {
  return (
    isDict(v) &&
    isNumber(v.trial) &&
    optional(v, 'title', isString) &&
    optional(v, 'notebook', isString) &&
    optional(v, 'cell', isNumber) &&
    optional(v, 'source', isString) &&
    optional(v, 'text', isString)
  );
}

export function isCounts(v: unknown): v is Counts {
  return (
    isDict(v) &&
    ['total', 'done', 'kept', 'discarded', 'failed', 'interrupted', 'running'].every(k =>
      optional(v, k, isNumber)
    )
  );
}

function isEnsembleRow(v: unknown): v is EnsembleRow {
  return (
    isDict(v) &&
    optional(v, 'score', isScore) &&
    optional(v, 'weights', isNumberMap) &&
    optional(v, 'notebook', isString) &&
    optional(v, 'reason', isString)
  );
}

export function isSnapshot(v: unknown): v is Snapshot {
  return (
    isDict(v) &&
    isNumber(v.seq) &&
    optional(v, 'problem', isProblemSummary) &&
    optional(v, 'status', isString) &&
    optional(v, 'startedAt', isString) &&
    optional(v, 'updatedAt', isString) &&
    optional(v, 'elapsed', isNumber) &&
    optional(v, 'counts', isCounts) &&
    optional(v, 'best', isTrialRow) &&
    optional(v, 'leaderboard', l => Array.isArray(l) && l.every(isTrialRow)) &&
    optional(v, 'running', l => Array.isArray(l) && l.every(isRunningTrial)) &&
    optional(v, 'ensemble', isEnsembleRow) &&
    optional(v, 'report', isString) &&
    optional(v, 'usage', isUsage) &&
    optional(v, 'error', isString)
  );
}

export function isView(v: unknown): v is View {
  return isDict(v) && isSnapshot(v) && optional(v, 'id', isString) && optional(v, 'live', isBool);
}

export function isExperimentSummary(v: unknown): v is ExperimentSummary {
  return (
    isDict(v) &&
    isString(v.id) &&
    optional(v, 'name', isString) &&
    optional(v, 'status', isString) &&
    optional(v, 'live', isBool) &&
    optional(v, 'seq', isNumber) &&
    optional(v, 'problem', isProblemSummary) &&
    optional(v, 'counts', isCounts) &&
    optional(v, 'best', isTrialRow) &&
    optional(v, 'updatedAt', isString) &&
    optional(v, 'error', isString)
  );
}

export function isExperimentList(v: unknown): v is { experiments: ExperimentSummary[] } {
  return (
    isDict(v) &&
    (v.experiments === null ||
      (Array.isArray(v.experiments) && v.experiments.every(isExperimentSummary)))
  );
}

export function isCreated(v: unknown): v is Created {
  return (
    isDict(v) &&
    isString(v.id) &&
    isString(v.agentsMd) &&
    optional(v, 'problem', isString) &&
    optional(v, 'guessed', g => Array.isArray(g) && g.every(isString))
  );
}

export function isStreamMessage(v: unknown): v is StreamMessage {
  if (!isDict(v) || !isString(v.experiment)) {
    return false;
  }
  switch (v.kind) {
    case 'snapshot':
      return isView(v.snapshot);
    case 'event':
      return isJournalEvent(v.event);
    case 'live':
      return isBool(v.live);
    case 'error':
      return isString(v.error);
  }
  return false;
}

export function isListMessage(v: unknown): v is ListMessage {
  return v !== null && isDict(v) && v.kind === 'experiments' && isExperimentList(v);
}

/** The `field` of a failed form request's body, if there is one. */
export function errorField(v: unknown): string | undefined {
  return isDict(v) && isString(v.field) && v.field ? v.field : undefined;
}

/** The `{"error": ...}` body of a failed request, if that is what v is. */
export function errorMessage(v: unknown): string | undefined {
  return isDict(v) && isString(v.error) ? v.error : undefined;
}


// ---------------------------------------------------------------------------
// The dashboard's answers (docs/api.md, Dashboard: lab/inspect.go, lab/compare.go).

/** lab.CompactOutput */
export interface CompactOutput {
  type: 'text' | 'image' | 'error' | string;
  name?: string;
  text?: string;
  mime?: string;
  data?: string;
  truncated?: boolean;
}

/** lab.NotebookCell */
export interface NotebookCell {
  index: number;
  type: string;
  role?: string;
  source: string;
  executionCount?: number | null;
  outputs: CompactOutput[];
}

/** lab.TrialCells: GET …/trials/{n}/cells */
export interface TrialCells {
  trial: number;
  notebook: string;
  written: boolean;
  cells: NotebookCell[];
}

/** lab.ValueDiff */
export interface ValueDiff {
  key: string;
  a: string | null;
  b: string | null;
  same: boolean;
}

/** lab.LineDiff */
export interface LineDiff {
  op: '=' | '-' | '+';
  text: string;
  a?: number;
  b?: number;
}

/** lab.CellDiff */
export interface CellDiff {
  index: number;
  role?: string;
  change: 'same' | 'changed' | 'added' | 'removed';
  lines: LineDiff[];
}

/** lab.FoldPair */
export interface FoldPair {
  fold: number;
  a: number;
  b: number;
  diff: number;
  improvement: number;
}

/** lab.Paired: the keep rule's paired test. */
export interface Paired {
  improvements: number[];
  mean: number;
  se: number;
  wins: number;
  k: number;
}

/** lab.CompareSide */
export interface CompareSide extends TrialRow {
  plan?: string;
  tags: Record<string, string>;
}

/** lab.Comparison: GET …/compare?a=A&b=B */
export interface Comparison {
  metric: string;
  direction: string;
  a: CompareSide;
  b: CompareSide;
  cells: CellDiff[];
  tags: ValueDiff[];
  params: ValueDiff[];
  folds: FoldPair[];
  test: Paired | null;
  keep?: boolean;
  reason?: string;
}

const isStringMap = (v: unknown): v is Record<string, string> => isDict(v) && Object.values(v).every(isString);
const isArrayOf = <T>(v: unknown, f: (x: unknown) => x is T): v is T[] => Array.isArray(v) && v.every(f);
const isNullableString = (v: unknown) => v === null || isString(v);

function isCompactOutput(v: unknown): v is CompactOutput {
  return (
    isDict(v) &&
    isString(v.type) &&
    optional(v, 'name', isString) &&
    optional(v, 'text', isString) &&
    optional(v, 'mime', isString) &&
    optional(v, 'data', isString) &&
    optional(v, 'truncated', isBool)
  );
}

function isNotebookCell(v: unknown): v is NotebookCell {
  return (
    isDict(v) &&
    isNumber(v.index) &&
    isString(v.type) &&
    isString(v.source) &&
    optional(v, 'role', isString) &&
    optional(v, 'executionCount', isNumber) &&
    isArrayOf(v.outputs, isCompactOutput)
  );
}

export function isTrialCells(v: unknown): v is TrialCells {
  return isDict(v) && isNumber(v.trial) && isString(v.notebook) && isBool(v.written) && isArrayOf(v.cells, isNotebookCell);
}

function isValueDiff(v: unknown): v is ValueDiff {
  return isDict(v) && isString(v.key) && isNullableString(v.a) && isNullableString(v.b) && isBool(v.same);
}

function isLineDiff(v: unknown): v is LineDiff {
  return (
    isDict(v) &&
    (v.op === '=' || v.op === '-' || v.op === '+') &&
    isString(v.text) &&
    optional(v, 'a', isNumber) &&
    optional(v, 'b', isNumber)
  );
}

function isCellDiff(v: unknown): v is CellDiff {
  return (
    isDict(v) &&
    isNumber(v.index) &&
    optional(v, 'role', isString) &&
    ['same', 'changed', 'added', 'removed'].includes(v.change as string) &&
    isArrayOf(v.lines, isLineDiff)
  );
}

function isFoldPair(v: unknown): v is FoldPair {
  return isDict(v) && ['fold', 'a', 'b', 'diff', 'improvement'].every(k => isNumber(v[k]));
}

function isPaired(v: unknown): v is Paired {
  return (
    isDict(v) &&
    isArrayOf(v.improvements, isNumber) &&
    ['mean', 'se', 'wins', 'k'].every(k => isNumber(v[k]))
  );
}

function isCompareSide(v: unknown): v is CompareSide {
  return isTrialRow(v) && isDict(v) && optional(v, 'plan', isString) && isStringMap(v.tags);
}

export function isComparison(v: unknown): v is Comparison {
  return (
    isDict(v) &&
    isString(v.metric) &&
    isString(v.direction) &&
    isCompareSide(v.a) &&
    isCompareSide(v.b) &&
    isArrayOf(v.cells, isCellDiff) &&
    isArrayOf(v.tags, isValueDiff) &&
    isArrayOf(v.params, isValueDiff) &&
    isArrayOf(v.folds, isFoldPair) &&
    (v.test === null || v.test === undefined || isPaired(v.test)) &&
    optional(v, 'keep', isBool) &&
    optional(v, 'reason', isString)
  );
}

/** What trial.proposed carries in data: the agent's tags (lab's proposal). */
export function proposalTags(data: unknown): Record<string, string> {
  if (isDict(data) && isStringMap(data.tags)) {
    return data.tags;
  }
  return {};
}
