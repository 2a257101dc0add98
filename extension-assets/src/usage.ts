// What the panel says about an LLM agent's spending and about the ensemble.
// Pure functions of the snapshot, so the unit tests check them against the
// example journals without a browser.

import { EnsembleRow, TrialRow, Usage } from './tokens';

/** Tokens, in and out together. */
export function totalTokens(u: Usage | null | undefined): number {
  return (u?.inputTokens ?? 0) + (u?.outputTokens ?? 0);
}

/** Whether any trial recorded usage: the table shows its columns only then. */
export function anyUsage(rows: TrialRow[]): boolean {
  return rows.some(r => totalTokens(r.usage) > 0 || (r.usage?.costUSD ?? 0) > 0);
}

/** A token count for people: 812, 6.0k, 1.25M. */
export function formatTokens(n: number): string {
  if (!Number.isFinite(n) || n < 0) {
    return '—';
  }
  if (n < 1000) {
    return String(Math.round(n));
  }
  if (n < 1e6) {
    return `${(n / 1000).toFixed(n < 1e4 ? 1 : 0)}k`;
  }
  return `${(n / 1e6).toFixed(2)}M`;
}

/** An estimated cost in US dollars: $0.028, $0.20, $12.40. */
export function formatCost(usd: number): string {
  if (!Number.isFinite(usd) || usd < 0) {
    return '—';
  }
  if (usd === 0) {
    return '$0';
  }
  return usd < 0.1 ? `$${usd.toPrecision(2)}` : `$${usd.toFixed(2)}`;
}

/** The summary line for an experiment's usage, or undefined when it has none. */
export function usageSummary(u: Usage | null | undefined): string | undefined {
  if (!u || (totalTokens(u) === 0 && !u.costUSD)) {
    return undefined;
  }
  return (
    `${formatTokens(totalTokens(u))} tokens (${formatTokens(u.inputTokens ?? 0)} in, ` +
    `${formatTokens(u.outputTokens ?? 0)} out) · ~${formatCost(u.costUSD ?? 0)}`
  );
}

/** Whether the ensemble is what predictions use, and why, as the harness said. */
export interface EnsembleStatus {
  /** true: used; false: not used; undefined: the journal does not say. */
  used: boolean | undefined;
  /** The harness's reason, without its "used:" or "not used:" prefix. */
  why: string;
}

/**
 * The ensemble's status. The harness (lab/ensemble.go) starts its reason
 * with "used:" or "not used:"; the snapshot keeps that reason.
 */
export function ensembleStatus(e: EnsembleRow | null | undefined): EnsembleStatus | undefined {
  if (!e || !e.score) {
    return undefined;
  }
  const reason = (e.reason ?? '').trim();
  const m = /^(not used|used)\s*:\s*/i.exec(reason);
  if (!m) {
    return { used: undefined, why: reason };
  }
  return { used: m[1].toLowerCase() === 'used', why: reason.slice(m[0].length) };
}

/** The ensemble's members as "#2 50% · #1 25% · #4 25%", heaviest first. */
export function ensembleMembers(e: EnsembleRow | null | undefined): string {
  const w = Object.entries(e?.weights ?? {}).filter(([, v]) => v > 0);
  w.sort((a, b) => b[1] - a[1] || Number(a[0]) - Number(b[0]));
  return w.map(([t, v]) => `#${t} ${Math.round(v * 100)}%`).join(' · ');
}

/** Rows sorted by cost, then tokens; trials without usage last. */
export function byCost(rows: TrialRow[], asc: boolean): TrialRow[] {
  const has = (r: TrialRow) => r.usage !== undefined && r.usage !== null;
  return [...rows].sort((a, b) => {
    if (has(a) !== has(b)) {
      return has(a) ? -1 : 1;
    }
    const c =
      (a.usage?.costUSD ?? 0) - (b.usage?.costUSD ?? 0) ||
      totalTokens(a.usage) - totalTokens(b.usage) ||
      a.trial - b.trial;
    return asc ? c : -c;
  });
}

