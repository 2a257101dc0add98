// The dashboard: one main-area tab per experiment, with three views: the
// leaderboard and the search over time, a trial's page, and two trials
// compared. Plain DOM in a Lumino widget, drawn from a DashboardModel; the
// comparison and a trial's cells come from the service (lab computes them).

import { Widget } from '@lumino/widgets';

import { h, s } from './dom';
import { DashboardModel, Filters, SortKey, facets, passes, sortRows } from './dashboardModel';
import { formatDuration, formatScore } from './panel';
import { Comparison, JournalEvent, NotebookCell, Snapshot, TrialCells, TrialRow, ValueDiff } from './tokens';
import { ensembleMembers, ensembleStatus, formatCost, formatTokens, totalTokens } from './usage';

/** What the dashboard asks of the application. */
export interface DashboardActions {
  /** Opens a notebook, by its path for the Jupyter server, in the main area. */
  openNotebook(path: string): void;
}

/** Which view a tab shows. */
export type DashboardView =
  | { view: 'overview' }
  | { view: 'trial'; trial: number }
  | { view: 'compare'; a: number; b: number };

const fmtSigned = (v: number) => (v > 0 ? '+' : '') + formatScore(v);

/** One experiment's dashboard. */
export class DashboardWidget extends Widget {
  constructor(
    readonly model: DashboardModel,
    private readonly _actions: DashboardActions
  ) {
    super();
    this.addClass('tb-Dashboard');
    this.id = `trialbook-dashboard-${model.experiment.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    this.title.label = `Trialbook: ${model.experiment}`;
    this.title.caption = `The ${model.experiment} experiment: leaderboard, search, trials and comparisons`;
    this.title.closable = true;
    this.node.setAttribute('role', 'region');
    this.node.setAttribute('aria-label', `Dashboard of ${model.experiment}`);
    this.node.append(this._nav, this._status, this._body);
    this._buildFilters();
    this.model.changed.connect(this._onChange, this);
    this._render();
  }

  /** The view shown now. */
  get view(): DashboardView {
    return this._view;
  }

  /** Shows a view. */
  go(v: DashboardView): void {
    this._view = v;
    this._cells = undefined;
    this._comparison = undefined;
    this._loadError = '';
    if (v.view === 'trial') {
      void this._loadCells(v.trial);
    } else if (v.view === 'compare') {
      this._pick = { a: v.a, b: v.b };
      void this._loadCompare(v.a, v.b);
    }
    this._render(true);
  }

  dispose(): void {
    if (this._frame !== undefined) {
      cancelAnimationFrame(this._frame);
    }
    clearTimeout(this._reload);
    this.model.dispose();
    super.dispose();
  }

  // -- live updates ----------------------------------------------------------

  private _onChange(_: DashboardModel, e: JournalEvent | undefined): void {
    const v = this._view;
    // What the service computed from the notebooks goes stale with new
    // events about those trials: ask again, once the burst is over.
    const about = (n: number) => e !== undefined && e.trial === n && e.type !== 'cell.output';
    if (v.view === 'trial' && about(v.trial)) {
      this._later(() => this._loadCells(v.trial));
    } else if (v.view === 'compare' && (about(v.a) || about(v.b))) {
      this._later(() => this._loadCompare(v.a, v.b));
    }
    // Cell and kernel events change nothing the dashboard draws from the
    // journal (a trial's cells come from its notebook, reloaded above).
    if (e && (e.type.startsWith('cell.') || e.type.startsWith('kernel.'))) {
      return;
    }
    if (this._frame === undefined) {
      this._frame = requestAnimationFrame(() => {
        this._frame = undefined;
        this._render();
      });
    }
  }

  private _later(f: () => Promise<void>): void {
    clearTimeout(this._reload);
    this._reload = setTimeout(() => void f(), 300);
  }

  private async _loadCells(n: number): Promise<void> {
    try {
      const cells = await this.model.trialCells(n);
      if (this._view.view === 'trial' && this._view.trial === n) {
        this._cells = cells;
        this._loadError = '';
      }
    } catch (err) {
      this._loadError = err instanceof Error ? err.message : String(err);
    }
    this._render();
  }

  private async _loadCompare(a: number, b: number): Promise<void> {
    try {
      const c = await this.model.compare(a, b);
      if (this._view.view === 'compare' && this._view.a === a && this._view.b === b) {
        this._comparison = c;
        this._loadError = '';
      }
    } catch (err) {
      this._loadError = err instanceof Error ? err.message : String(err);
    }
    this._render();
  }

  // -- drawing ---------------------------------------------------------------

  private _render(moved = false): void {
    const focused = document.activeElement;
    const keep =
      focused instanceof HTMLElement && this._body.contains(focused) && !moved ? focused.getAttribute('data-focus') : null;
    const scroll = this._body.scrollTop;
    this._renderNav();
    this._renderStatus();
    const snap = this.model.snapshot;
    let content: HTMLElement;
    if (!this.model.loaded) {
      content = h('p', { className: 'tb-Muted' }, `Loading ${this.model.experiment}…`);
    } else if (this._view.view === 'trial') {
      content = this._renderTrial(snap, this._view.trial);
    } else if (this._view.view === 'compare') {
      content = this._renderCompare(snap);
    } else {
      content = this._renderOverview(snap);
    }
    this._body.replaceChildren(content);
    if (keep) {
      this._body.querySelector<HTMLElement>(`[data-focus="${CSS.escape(keep)}"]`)?.focus({ preventScroll: true });
    }
    if (moved || this._body.scrollTop !== scroll) {
      this._body.scrollTop = moved ? 0 : scroll;
    }
  }

  private _nav = h('div', { className: 'tb-DashNav', role: 'tablist', 'aria-label': 'Dashboard views' });

  private _renderNav(): void {
    const v = this._view;
    const tab = (label: string, active: boolean, go: DashboardView | undefined) =>
      h(
        'button',
        {
          className: 'tb-DashTab',
          role: 'tab',
          'aria-selected': active ? 'true' : 'false',
          disabled: !go,
          tabindex: active ? 0 : -1,
          onclick: () => go && this.go(go),
          onkeydown: (ev: Event) => {
            const k = (ev as KeyboardEvent).key;
            if (k === 'ArrowRight' || k === 'ArrowLeft') {
              const tabs = [...this._nav.querySelectorAll<HTMLButtonElement>('[role=tab]:not([disabled])')];
              const i = tabs.indexOf(ev.currentTarget as HTMLButtonElement);
              tabs[(i + (k === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length]?.focus();
            }
          }
        },
        label
      );
    const best = this.model.snapshot.best?.trial;
    const trial = v.view === 'trial' ? v.trial : this._lastTrial;
    const pick = this._pick;
    this._nav.replaceChildren(
      h('h2', { className: 'tb-DashTitle' }, this.model.snapshot.problem?.name || this.model.experiment),
      tab('Leaderboard', v.view === 'overview', { view: 'overview' }),
      tab(trial ? `Trial #${trial}` : 'Trial', v.view === 'trial', trial ? { view: 'trial', trial } : undefined),
      tab(
        'Compare',
        v.view === 'compare',
        pick ? { view: 'compare', a: pick.a, b: pick.b } : best && trial && trial !== best ? { view: 'compare', a: trial, b: best } : undefined
      )
    );
  }

  private _status = h('div', { className: 'tb-DashStatus', role: 'status', 'aria-label': 'Experiment status' });

  private _renderStatus(): void {
    const snap = this.model.snapshot;
    const c = snap.counts;
    const p = snap.problem;
    const best = snap.best;
    const parts: (HTMLElement | null)[] = [
      h('span', { className: `tb-Badge tb-Badge-${snap.status}`, 'data-tb': 'dash-status' }, snap.status),
      this.model.live ? h('span', { className: 'tb-Muted' }, 'live') : null,
      p ? h('span', { className: 'tb-Muted' }, `${p.task} · ${p.target} · ${p.metric} (${p.direction}) · ${p.validation}`) : null,
      h('span', { 'data-tb': 'dash-done', 'data-done': c.done, 'data-total': c.total }, `${c.done} / ${c.total || '∞'} done`),
      best?.score
        ? h('span', { 'data-tb': 'dash-best', 'data-trial': best.trial, 'data-value': String(best.score.cv) }, `best #${best.trial}: ${formatScore(best.score.cv)}`)
        : null,
      this.model.error ? h('span', { className: 'tb-Error' }, this.model.error) : null
    ];
    this._status.replaceChildren(...parts.filter((p): p is HTMLElement => p !== null));
  }

  private _body = h('div', { className: 'tb-DashBody' });

  // -- the leaderboard and the search over time ------------------------------

  private _filters: Filters = { status: '', family: '', agent: '', tag: '' };
  private _filterBar = h('div', { className: 'tb-Filters', role: 'search', 'aria-label': 'Filter trials' });
  private _filterSelects: Record<'status' | 'family' | 'agent', HTMLSelectElement> = {
    status: h('select', { 'aria-label': 'Status' }),
    family: h('select', { 'aria-label': 'Family' }),
    agent: h('select', { 'aria-label': 'Agent' })
  };

  /** The filter bar lives across renders so typing in it is never interrupted. */
  private _buildFilters(): void {
    const tag = h('input', { type: 'search', 'aria-label': 'Tag', placeholder: 'tag: key=value or words' });
    tag.addEventListener('input', () => {
      this._filters.tag = tag.value;
      this._render();
    });
    for (const k of ['status', 'family', 'agent'] as const) {
      this._filterSelects[k].addEventListener('change', () => {
        this._filters[k] = this._filterSelects[k].value;
        this._render();
      });
    }
    this._filterBar.append(
      h('label', {}, 'Status ', this._filterSelects.status),
      h('label', {}, 'Family ', this._filterSelects.family),
      h('label', {}, 'Agent ', this._filterSelects.agent),
      h('label', {}, 'Tag ', tag)
    );
  }

  private _updateFilterOptions(): void {
    const f = facets(this.model.index);
    for (const k of ['status', 'family', 'agent'] as const) {
      const sel = this._filterSelects[k];
      const want = ['', ...f[k]];
      if (this._filters[k] && !want.includes(this._filters[k])) {
        want.push(this._filters[k]);
      }
      const have = [...sel.options].map(o => o.value);
      if (have.join('\n') !== want.join('\n')) {
        sel.replaceChildren(...want.map(v => h('option', { value: v }, v || 'all')));
      }
      sel.value = this._filters[k];
    }
  }

  private _sort: { key: SortKey; asc: boolean } = { key: 'cv', asc: true };
  private _rowCache = new Map<number, { sig: string; el: HTMLElement }>();
  private _selected = new Set<number>();

  private _renderOverview(snap: Snapshot): HTMLElement {
    this._updateFilterOptions();
    return h('div', { className: 'tb-Overview' }, this._renderChart(snap), this._filterBar, this._renderLeaderboard(snap));
  }

  private _renderLeaderboard(snap: Snapshot): HTMLElement {
    const index = this.model.index;
    const direction = snap.problem?.direction ?? snap.best?.score?.direction ?? 'minimize';
    const rows = sortRows(
      snap.leaderboard.filter(r => passes(r, index.trials.get(r.trial)?.tags ?? {}, this._filters)),
      index,
      this._sort.key,
      this._sort.asc,
      direction
    );
    const header = (key: SortKey, label: string) => {
      const active = this._sort.key === key;
      return h(
        'th',
        { scope: 'col', 'aria-sort': active ? (this._sort.asc ? 'ascending' : 'descending') : 'none' },
        h(
          'button',
          {
            className: 'tb-SortButton',
            'data-key': key,
            'data-focus': `sort-${key}`,
            onclick: () => {
              this._sort = active ? { key, asc: !this._sort.asc } : { key, asc: true };
              this._render();
            }
          },
          label,
          active ? (this._sort.asc ? ' ▲' : ' ▼') : ''
        )
      );
    };
    const ensemble = snap.ensemble;
    const weights = ensemble?.weights ?? {};
    const best = snap.best?.trial;
    const open = (r: TrialRow) => r.notebook && this._actions.openNotebook(this.model.notebookPath(r.notebook));
    const sel = [...this._selected].filter(n => snap.leaderboard.some(r => r.trial === n));
    const metric = snap.problem?.metric ?? 'score';
    const ensRow = ensemble?.score
      ? h(
          'tr',
          { className: 'tb-Row tb-Row-ensemble', 'data-tb': 'dash-ensemble', 'data-value': String(ensemble.score.cv) },
          h('td', {}),
          h('td', {}, '—'),
          h(
            'td',
            {},
            h('span', { className: 'tb-Mark tb-Mark-ensemble' }, 'ensemble'),
            ' ',
            ensembleMembers(ensemble),
            ensembleStatus(ensemble)?.used === false ? h('span', { className: 'tb-Muted' }, ' (not used)') : null
          ),
          h('td', {}, '—'),
          h('td', {}, '—'),
          this._cvCell(ensemble.score.cv, ensemble.score.cvStd),
          h('td', { 'data-value': String(ensemble.score.holdout ?? '') }, formatScore(ensemble.score.holdout)),
          h('td', { colspan: 4 }, h('span', { className: 'tb-Muted' }, ensembleStatus(ensemble)?.why ?? ''))
        )
      : null;
    return h(
      'section',
      { className: 'tb-Section', 'aria-label': 'Leaderboard' },
      h(
        'div',
        { className: 'tb-Actions' },
        h(
          'button',
          {
            className: 'tb-Button',
            'data-focus': 'compare-selected',
            disabled: sel.length !== 2,
            title: 'Tick two trials to compare them',
            onclick: () => sel.length === 2 && this.go({ view: 'compare', a: sel[0], b: sel[1] })
          },
          `Compare selected (${sel.length}/2)`
        ),
        h('span', { className: 'tb-Muted', 'data-tb': 'dash-shown' }, `${rows.length} of ${snap.leaderboard.length} trials`)
      ),
      h(
        'div',
        { className: 'tb-TableScroll' },
        h(
          'table',
          { className: 'tb-Table tb-DashTable', 'aria-label': 'Leaderboard' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              h('th', { scope: 'col' }, h('span', { className: 'tb-Visually-hidden' }, 'Compare')),
              header('trial', '#'),
              header('title', 'Title'),
              header('status', 'Status'),
              header('family', 'Family'),
              header('cv', `CV ${metric} ± std`),
              header('holdout', 'Holdout'),
              header('time', 'Time'),
              header('tokens', 'Tokens'),
              header('cost', 'Cost'),
              header('agent', 'Agent')
            )
          ),
          h(
            'tbody',
            {},
            ensRow,
            rows.map(r => {
              const family = index.trials.get(r.trial)?.tags.family ?? '';
              const w = weights[String(r.trial)];
              // A row whose data did not change is reused: a live event
              // redraws the one or two rows it is about, not all of them.
              const sig = JSON.stringify([r, family, w, r.trial === best, this._selected.has(r.trial)]);
              const cached = this._rowCache.get(r.trial);
              if (cached && cached.sig === sig) {
                return cached.el;
              }
              const el = h(
                'tr',
                {
                  tabindex: 0,
                  className: `tb-Row tb-Row-${r.status}${r.trial === best ? ' tb-Row-best' : ''}`,
                  'data-trial': r.trial,
                  'data-focus': `row-${r.trial}`,
                  'aria-label': `Trial ${r.trial}: ${r.title}, ${r.status}`,
                  title: r.reason ? `${r.status}: ${r.reason}` : `Open ${r.notebook}`,
                  onclick: (ev: Event) => {
                    if (!(ev.target as HTMLElement).closest('button, input')) open(r);
                  },
                  onkeydown: (ev: Event) => {
                    if ((ev as KeyboardEvent).key === 'Enter' && ev.target === ev.currentTarget) open(r);
                  }
                },
                h(
                  'td',
                  {},
                  h('input', {
                    type: 'checkbox',
                    'aria-label': `Select trial ${r.trial} to compare`,
                    'data-focus': `pick-${r.trial}`,
                    checked: this._selected.has(r.trial),
                    onchange: (ev: Event) => {
                      const on = (ev.target as HTMLInputElement).checked;
                      if (on) {
                        this._selected.add(r.trial);
                        // Two at a time: the oldest pick makes room.
                        while (this._selected.size > 2) this._selected.delete(this._selected.values().next().value as number);
                      } else {
                        this._selected.delete(r.trial);
                      }
                      this._render();
                    }
                  })
                ),
                h('td', {}, String(r.trial)),
                h(
                  'td',
                  {},
                  h('span', { className: 'tb-RowTitle' }, r.title),
                  r.trial === best ? h('span', { className: 'tb-Mark tb-Mark-best', 'data-tb': 'mark-best' }, 'best') : null,
                  w ? h('span', { className: 'tb-Mark tb-Mark-ensemble', 'data-tb': 'mark-ensemble' }, `ensemble ${Math.round(w * 100)}%`) : null,
                  ' ',
                  h(
                    'button',
                    {
                      className: 'tb-Button tb-Button-small',
                      'data-focus': `details-${r.trial}`,
                      'aria-label': `Details of trial ${r.trial}`,
                      onclick: () => this.go({ view: 'trial', trial: r.trial })
                    },
                    'Details'
                  )
                ),
                h('td', {}, h('span', { className: `tb-Badge tb-Badge-${r.status}` }, r.status)),
                h('td', {}, family),
                r.score ? this._cvCell(r.score.cv, r.score.cvStd) : h('td', { 'data-value': '' }, '—'),
                h('td', { 'data-value': r.score?.holdout === undefined ? '' : String(r.score.holdout) }, formatScore(r.score?.holdout)),
                h('td', {}, r.duration ? formatDuration(r.duration) : '—'),
                h('td', { 'data-value': r.usage ? totalTokens(r.usage) : '' }, r.usage ? formatTokens(totalTokens(r.usage)) : '—'),
                h('td', { 'data-value': r.usage ? String(r.usage.costUSD ?? 0) : '' }, r.usage ? formatCost(r.usage.costUSD ?? 0) : '—'),
                h('td', {}, r.agent ?? '')
              );
              this._rowCache.set(r.trial, { sig, el });
              return el;
            })
          )
        )
      )
    );
  }

  private _cvCell(cv: number, std: number | undefined): HTMLElement {
    return h(
      'td',
      { 'data-value': String(cv), className: 'tb-Num' },
      formatScore(cv),
      std ? h('span', { className: 'tb-Muted' }, ` ± ${formatScore(std)}`) : null
    );
  }

  /**
   * The search over time: each trial's CV by trial number, kept ones filled,
   * discarded ones hollow, failed and interrupted ones as crosses on the
   * axis; the kept frontier (what the harness would hand back at each point)
   * as a step line; the ensemble's CV after each update as a dashed line.
   */
  private _renderChart(snap: Snapshot): HTMLElement {
    const rows = [...snap.leaderboard].sort((a, b) => a.trial - b.trial);
    const scored = rows.filter(r => r.score);
    const ens = this.model.index.ensembles;
    const metric = snap.problem?.metric ?? 'score';
    const section = (...c: (Node | null)[]) =>
      h('section', { className: 'tb-Section tb-DashChart', 'aria-label': 'Search over time' }, h('h3', {}, 'Search over time'), ...c);
    if (!rows.length) {
      return section(h('p', { className: 'tb-Muted' }, 'No trials yet.'));
    }
    const minimize = (snap.problem?.direction ?? scored[0]?.score?.direction) !== 'maximize';
    const W = 900;
    const H = 260;
    const pad = { l: 64, r: 16, t: 12, b: 40 };
    const values = [...scored.map(r => r.score?.cv ?? 0), ...ens.map(e => e.score.cv)];
    let lo = values.length ? Math.min(...values) : 0;
    let hi = values.length ? Math.max(...values) : 1;
    if (lo === hi) {
      lo -= Math.abs(lo) * 0.05 || 1;
      hi += Math.abs(hi) * 0.05 || 1;
    }
    const span = hi - lo;
    lo -= span * 0.05;
    hi += span * 0.05;
    const maxTrial = Math.max(...rows.map(r => r.trial), snap.counts.total, 2);
    const x = (t: number) => pad.l + ((t - 1) / Math.max(1, maxTrial - 1)) * (W - pad.l - pad.r);
    const y = (v: number) => pad.t + ((hi - v) / (hi - lo)) * (H - pad.t - pad.b);
    const base = H - pad.b;

    const frontier: string[] = [];
    let best: number | undefined;
    for (const r of scored) {
      const v = r.score?.cv ?? 0;
      if (r.status === 'kept' && (best === undefined || (minimize ? v < best : v > best))) {
        if (best !== undefined) frontier.push(`L${x(r.trial).toFixed(1)},${y(best).toFixed(1)}`);
        best = v;
        frontier.push(`${frontier.length ? 'L' : 'M'}${x(r.trial).toFixed(1)},${y(v).toFixed(1)}`);
      }
    }
    if (best !== undefined) frontier.push(`L${x(maxTrial).toFixed(1)},${y(best).toFixed(1)}`);
    const ensPath = ens.map((e, i) => `${i ? 'L' : 'M'}${x(Math.max(1, e.afterTrial)).toFixed(1)},${y(e.score.cv).toFixed(1)}`).join(' ');

    const point = (r: TrialRow) => {
      const label = `#${r.trial} ${r.title}: ${r.score ? `${metric} ${formatScore(r.score.cv)}` : 'no score'} — ${r.status}${r.reason ? `: ${r.reason}` : ''}`;
      const cx = x(r.trial);
      const mark = r.score
        ? s('circle', { cx: cx.toFixed(1), cy: y(r.score.cv).toFixed(1), r: r.trial === snap.best?.trial ? 7 : 5 })
        : s('path', { d: `M${cx - 5},${base - 5} L${cx + 5},${base + 5} M${cx - 5},${base + 5} L${cx + 5},${base - 5}` });
      return s(
        'g',
        {
          className: `tb-Point tb-Point-${r.status}${r.trial === snap.best?.trial ? ' tb-Point-best' : ''}`,
          'data-trial': r.trial,
          'data-status': r.status,
          'data-focus': `point-${r.trial}`,
          tabindex: 0,
          role: 'button',
          'aria-label': label,
          onclick: () => this.go({ view: 'trial', trial: r.trial }),
          onkeydown: (ev: Event) => {
            if ((ev as KeyboardEvent).key === 'Enter') this.go({ view: 'trial', trial: r.trial });
          }
        },
        s('title', {}, label),
        mark
      );
    };
    const ticks = [lo + (hi - lo) * 0.05, (lo + hi) / 2, hi - (hi - lo) * 0.05];
    const svg = s(
      'svg',
      {
        className: 'tb-Chart tb-Chart-wide',
        viewBox: `0 0 ${W} ${H}`,
        role: 'group',
        'aria-label': `${metric} per trial (${minimize ? 'lower' : 'higher'} is better), the kept frontier and the ensemble`
      },
      s('line', { className: 'tb-Axis', x1: pad.l, y1: base, x2: W - pad.r, y2: base }),
      s('line', { className: 'tb-Axis', x1: pad.l, y1: pad.t, x2: pad.l, y2: base }),
      ticks.map(v => s('text', { className: 'tb-AxisLabel', x: pad.l - 6, y: y(v) + 4, 'text-anchor': 'end' }, formatScore(v))),
      Array.from({ length: maxTrial }, (_, i) => i + 1)
        .filter(t => maxTrial <= 20 || t % Math.ceil(maxTrial / 20) === 0 || t === 1)
        .map(t => s('text', { className: 'tb-AxisLabel', x: x(t), y: base + 16, 'text-anchor': 'middle' }, String(t))),
      s('text', { className: 'tb-AxisLabel', x: (W + pad.l) / 2, y: H - 4, 'text-anchor': 'middle' }, 'trial'),
      frontier.length ? s('path', { className: 'tb-BestLine', d: frontier.join(' '), 'data-tb': 'frontier' }) : null,
      ens.length
        ? s(
            'g',
            { className: 'tb-EnsembleLine', 'data-tb': 'ensemble-line' },
            s('path', { d: ensPath }),
            ens.map(e =>
              s(
                'rect',
                { x: x(Math.max(1, e.afterTrial)) - 4, y: y(e.score.cv) - 4, width: 8, height: 8, transform: `rotate(45 ${x(Math.max(1, e.afterTrial))} ${y(e.score.cv)})` },
                s('title', {}, `ensemble after trial ${e.afterTrial}: ${formatScore(e.score.cv)}${e.reason ? ` — ${e.reason}` : ''}`)
              )
            )
          )
        : null,
      rows.map(point)
    );
    const legend = h(
      'ul',
      { className: 'tb-Legend', 'aria-label': 'Legend' },
      h('li', {}, h('span', { className: 'tb-Key tb-Key-kept' }), 'kept'),
      h('li', {}, h('span', { className: 'tb-Key tb-Key-discarded' }), 'discarded'),
      h('li', {}, h('span', { className: 'tb-Key tb-Key-failed' }, '×'), 'failed or interrupted'),
      h('li', {}, h('span', { className: 'tb-Key tb-Key-frontier' }), 'kept frontier'),
      ens.length ? h('li', {}, h('span', { className: 'tb-Key tb-Key-ensemble' }), 'ensemble') : null
    );
    return section(svg, legend);
  }

  // -- a trial's page --------------------------------------------------------

  private _lastTrial: number | undefined;
  private _cells: TrialCells | undefined;
  private _loadError = '';

  private _renderTrial(snap: Snapshot, n: number): HTMLElement {
    this._lastTrial = n;
    const row = snap.leaderboard.find(r => r.trial === n);
    if (!row) {
      return h('p', { className: 'tb-Muted' }, `Trial ${n} is not in the journal (yet).`);
    }
    const d = this.model.index.trials.get(n) ?? { tags: {}, fixes: [], steps: [] };
    const best = snap.best?.trial;
    const sc = row.score;
    const facts = h(
      'dl',
      { className: 'tb-Facts' },
      h('dt', {}, 'Status'),
      h('dd', { 'data-tb': 'trial-status' }, h('span', { className: `tb-Badge tb-Badge-${row.status}` }, row.status)),
      h('dt', {}, `CV ${sc?.metric ?? snap.problem?.metric ?? ''}`),
      h('dd', { 'data-tb': 'trial-cv', 'data-value': sc ? String(sc.cv) : '' }, sc ? `${formatScore(sc.cv)} ± ${formatScore(sc.cvStd)}` : '—'),
      h('dt', {}, 'Holdout'),
      h('dd', { 'data-tb': 'trial-holdout' }, formatScore(sc?.holdout)),
      h('dt', {}, 'Time'),
      h('dd', {}, row.duration ? formatDuration(row.duration) : '—'),
      h('dt', {}, 'Agent'),
      h('dd', {}, row.agent ?? '—'),
      row.usage ? h('dt', {}, 'Usage') : null,
      row.usage ? h('dd', {}, `${formatTokens(totalTokens(row.usage))} tokens · ${formatCost(row.usage.costUSD ?? 0)}`) : null,
      Object.keys(d.tags).length ? h('dt', {}, 'Tags') : null,
      Object.keys(d.tags).length
        ? h('dd', { className: 'tb-Tags' }, Object.entries(d.tags).map(([k, v]) => h('code', { title: v }, `${k}=${v.length > 60 ? v.slice(0, 60) + '…' : v}`)))
        : null
    );
    const verdict = row.reason
      ? h('p', { className: `tb-Verdict tb-Verdict-${row.status}`, 'data-tb': 'trial-verdict' }, h('strong', {}, `${row.status}: `), row.reason)
      : null;
    const folds = sc?.folds?.length
      ? h(
          'table',
          { className: 'tb-Table tb-Folds', 'aria-label': 'Per-fold scores' },
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Fold'), h('th', { scope: 'col' }, sc.metric))),
          h('tbody', {}, sc.folds.map((v, i) => h('tr', { 'data-fold': i + 1 }, h('td', {}, String(i + 1)), h('td', { 'data-value': String(v), className: 'tb-Num' }, formatScore(v)))))
        )
      : null;
    const fixes = d.fixes.length
      ? h(
          'section',
          { className: 'tb-Section', 'aria-label': 'Fix attempts' },
          h('h3', {}, `Fix attempts (${d.fixes.filter(f => f.kind === 'fixed').length})`),
          h(
            'ol',
            { className: 'tb-Fixes' },
            d.fixes.map(f =>
              h(
                'li',
                { className: `tb-Fix tb-Fix-${f.kind}` },
                h('strong', {}, f.kind === 'error' ? `cell ${f.cell ?? '?'} failed: ` : `cell ${f.cell ?? '?'} replaced with:`),
                f.kind === 'error' ? f.text : h('pre', { className: 'tb-Source' }, f.text)
              )
            )
          )
        )
      : null;
    return h(
      'div',
      { className: 'tb-TrialPage', 'data-trial': n },
      h(
        'div',
        { className: 'tb-TrialHead' },
        h('h3', {}, `#${n} ${row.title}`, n === best ? h('span', { className: 'tb-Mark tb-Mark-best' }, 'best') : null),
        h(
          'div',
          { className: 'tb-Actions' },
          h('button', { className: 'tb-Button', 'data-focus': 'open-nb', disabled: !row.notebook, onclick: () => this._actions.openNotebook(this.model.notebookPath(row.notebook)) }, 'Open notebook'),
          h(
            'button',
            { className: 'tb-Button', 'data-focus': 'cmp-best', disabled: !best || best === n, onclick: () => best && this.go({ view: 'compare', a: n, b: best }) },
            'Compare with best'
          )
        )
      ),
      verdict,
      h('div', { className: 'tb-TrialTop' }, h('section', { className: 'tb-Section', 'aria-label': 'Scores' }, facts, folds), h('section', { className: 'tb-Section tb-Plan', 'aria-label': 'Plan' }, h('h3', {}, 'Plan'), h('div', { className: 'tb-PlanText' }, d.plan || '—'))),
      fixes,
      this._renderCells(n, d.steps)
    );
  }

  private _renderCells(n: number, steps: { seq: number; time: string; cell?: number; text: string }[]): HTMLElement {
    const cells = this._cells?.trial === n ? this._cells : undefined;
    const withSteps = steps.length > 0;
    const stepList = (list: typeof steps) =>
      list.length
        ? h(
            'ol',
            { className: 'tb-Steps', 'aria-label': 'Agent steps' },
            list.map(st => h('li', { 'data-tb': 'agent-step', 'data-seq': st.seq }, h('time', { className: 'tb-Muted' }, st.time.slice(11, 19)), ' ', st.text))
          )
        : null;
    const loose = steps.filter(st => st.cell === undefined || !cells?.cells.some(c => c.index === st.cell));
    let body: (HTMLElement | null)[];
    if (!cells) {
      body = [h('p', { className: this._loadError ? 'tb-Error' : 'tb-Muted' }, this._loadError || 'Loading the notebook…')];
    } else if (!cells.written) {
      body = [h('p', { className: 'tb-Muted' }, 'The notebook is not written yet.')];
    } else {
      body = cells.cells
        .filter(c => c.index > 0 || c.type !== 'markdown')
        .map(c =>
          h(
            'div',
            { className: `tb-CellRow${withSteps ? ' tb-CellRow-steps' : ''}`, 'data-cell': c.index },
            this._renderCell(c),
            withSteps ? h('aside', { className: 'tb-CellSteps', 'aria-label': `Agent steps at cell ${c.index}` }, stepList(steps.filter(st => st.cell === c.index))) : null
          )
        );
    }
    return h(
      'section',
      { className: 'tb-Section', 'aria-label': 'Cells' },
      h('h3', {}, 'Cells'),
      withSteps && loose.length ? h('div', { className: 'tb-LooseSteps' }, h('h4', {}, 'Agent steps'), stepList(loose)) : null,
      ...body
    );
  }

  private _renderCell(c: NotebookCell): HTMLElement {
    const label = c.role === 'setup' ? 'harness setup' : c.type === 'code' ? `cell ${c.index}` : c.type;
    return h(
      'div',
      { className: 'tb-Cell' },
      h('div', { className: 'tb-CellLabel tb-Muted' }, `[${c.executionCount ?? ' '}] ${label}`),
      c.role === 'setup'
        ? h(
            'details',
            {},
            h('summary', { className: 'tb-Muted' }, `the harness's setup cell (${c.source.split('\n').length} lines)`),
            h('pre', { className: 'tb-Source', 'aria-label': `Code of cell ${c.index}` }, c.source)
          )
        : h('pre', { className: 'tb-Source', 'aria-label': `Code of cell ${c.index}` }, c.source),
      c.outputs.map(o => {
        if (o.type === 'image' && o.data) {
          return h('img', { className: 'tb-OutImage', src: `data:${o.mime};base64,${o.data}`, alt: `image output of cell ${c.index}` });
        }
        return h(
          'pre',
          { className: `tb-Out tb-Out-${o.type}${o.name === 'stderr' ? ' tb-Out-stderr' : ''}`, 'aria-label': `Output of cell ${c.index}` },
          o.truncated ? '… ' : '',
          o.text ?? ''
        );
      })
    );
  }

  // -- two trials compared ---------------------------------------------------

  private _pick: { a: number; b: number } | undefined;
  private _comparison: Comparison | undefined;
  private _diffOnly = true;

  private _renderCompare(snap: Snapshot): HTMLElement {
    const v = this._view as { view: 'compare'; a: number; b: number };
    const trialSelect = (label: string, value: number, set: (n: number) => void) =>
      h(
        'label',
        {},
        `${label} `,
        h(
          'select',
          {
            'aria-label': `Trial ${label}`,
            'data-focus': `pick-${label}`,
            onchange: (ev: Event) => set(Number((ev.target as HTMLSelectElement).value))
          },
          [...snap.leaderboard]
            .sort((x, y) => x.trial - y.trial)
            .map(r => h('option', { value: r.trial, selected: r.trial === value }, `#${r.trial} ${r.title}`))
        )
      );
    const controls = h(
      'div',
      { className: 'tb-Actions tb-ComparePick' },
      trialSelect('A', v.a, n => this.go({ view: 'compare', a: n, b: v.b })),
      trialSelect('B', v.b, n => this.go({ view: 'compare', a: v.a, b: n })),
      h(
        'label',
        { className: 'tb-Check' },
        h('input', {
          type: 'checkbox',
          'data-focus': 'diff-only',
          checked: this._diffOnly,
          onchange: (ev: Event) => {
            this._diffOnly = (ev.target as HTMLInputElement).checked;
            this._render();
          }
        }),
        'Differences only'
      )
    );
    const c = this._comparison;
    if (!c || c.a.trial !== v.a || c.b.trial !== v.b) {
      return h('div', { className: 'tb-ComparePage' }, controls, h('p', { className: this._loadError ? 'tb-Error' : 'tb-Muted' }, this._loadError || 'Comparing…'));
    }
    const side = (x: typeof c.a, which: 'A' | 'B') =>
      h(
        'div',
        { className: 'tb-CompareSide', 'data-side': which },
        h('h3', {}, `${which}: #${x.trial} ${x.title}`),
        h('p', {}, h('span', { className: `tb-Badge tb-Badge-${x.status}` }, x.status)),
        h(
          'dl',
          { className: 'tb-Facts' },
          h('dt', {}, `CV ${c.metric}`),
          h('dd', { 'data-tb': `cv-${which}`, 'data-value': x.score ? String(x.score.cv) : '' }, x.score ? `${formatScore(x.score.cv)} ± ${formatScore(x.score.cvStd)}` : '—'),
          h('dt', {}, 'Holdout'),
          h('dd', { 'data-tb': `holdout-${which}`, 'data-value': x.score?.holdout === undefined ? '' : String(x.score.holdout) }, formatScore(x.score?.holdout))
        ),
        h('div', { className: 'tb-PlanText', 'aria-label': `Plan of ${which}` }, x.plan || '—')
      );
    const folds = c.folds.length
      ? h(
          'table',
          { className: 'tb-Table tb-Folds', 'aria-label': 'Folds compared' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              h('th', { scope: 'col' }, 'Fold'),
              h('th', { scope: 'col' }, `A #${c.a.trial}`),
              h('th', { scope: 'col' }, `B #${c.b.trial}`),
              h('th', { scope: 'col' }, 'A − B'),
              h('th', { scope: 'col', title: 'Positive when A is better, whichever the direction' }, 'A better by')
            )
          ),
          h(
            'tbody',
            {},
            c.folds.map(f =>
              h(
                'tr',
                { 'data-fold': f.fold, 'data-a': String(f.a), 'data-b': String(f.b), 'data-diff': String(f.diff), 'data-improvement': String(f.improvement) },
                h('td', {}, String(f.fold)),
                h('td', { className: 'tb-Num' }, formatScore(f.a)),
                h('td', { className: 'tb-Num' }, formatScore(f.b)),
                h('td', { className: 'tb-Num' }, fmtSigned(f.diff)),
                h('td', { className: `tb-Num ${f.improvement > 0 ? 'tb-Better' : f.improvement < 0 ? 'tb-Worse' : ''}` }, fmtSigned(f.improvement))
              )
            )
          )
        )
      : h('p', { className: 'tb-Muted' }, 'No paired folds: one of the two has no per-fold scores yet.');
    const t = c.test;
    const test = t
      ? h(
          'p',
          { 'data-tb': 'paired', 'data-mean': String(t.mean), 'data-se': String(t.se), 'data-wins': t.wins },
          `Paired test (the keep rule's): mean improvement ${fmtSigned(t.mean)}, standard error ${formatScore(t.se)}, A better on ${t.wins} of ${t.improvements.length} folds; A is kept over B when the mean exceeds ${t.k} × SE.`
        )
      : null;
    const verdict =
      c.keep !== undefined
        ? h('p', { className: `tb-Verdict tb-Verdict-${c.keep ? 'kept' : 'discarded'}`, 'data-tb': 'verdict', 'data-keep': String(c.keep) }, h('strong', {}, c.keep ? 'A beats B: ' : 'A does not beat B: '), c.reason ?? '')
        : null;
    const values = (label: string, list: ValueDiff[]) => {
      const shown = this._diffOnly ? list.filter(d => !d.same) : list;
      return h(
        'section',
        { className: 'tb-Section', 'aria-label': label },
        h('h3', {}, label),
        shown.length
          ? h(
              'table',
              { className: 'tb-Table tb-Values', 'aria-label': label },
              h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Key'), h('th', { scope: 'col' }, 'A'), h('th', { scope: 'col' }, 'B'))),
              h(
                'tbody',
                {},
                shown.map(d =>
                  h(
                    'tr',
                    { 'data-key': d.key, className: d.same ? '' : 'tb-Changed' },
                    h('td', {}, h('code', {}, d.key)),
                    h('td', {}, d.a ?? h('span', { className: 'tb-Muted' }, '(none)')),
                    h('td', {}, d.b ?? h('span', { className: 'tb-Muted' }, '(none)'))
                  )
                )
              )
            )
          : h('p', { className: 'tb-Muted' }, list.length ? 'No differences.' : 'None.')
      );
    };
    const cells = (this._diffOnly ? c.cells.filter(d => d.change !== 'same') : c.cells).map(d =>
      h(
        'div',
        { className: `tb-CellDiff tb-CellDiff-${d.change}`, 'data-cell': d.index, 'data-change': d.change },
        h('div', { className: 'tb-CellLabel' }, `cell ${d.index}${d.role === 'setup' ? ' (harness setup)' : ''} — ${d.change}`),
        h(
          'pre',
          { className: 'tb-DiffLines', 'aria-label': `Diff of cell ${d.index}` },
          d.lines.map(l =>
            h(
              'div',
              { className: `tb-Diff tb-Diff-${l.op === '+' ? 'add' : l.op === '-' ? 'del' : 'same'}`, 'data-op': l.op },
              h('span', { className: 'tb-DiffNo', 'aria-hidden': 'true' }, String(l.a ?? ''), ' ', String(l.b ?? '')),
              h('span', { className: 'tb-DiffOp' }, l.op === '=' ? ' ' : l.op === '-' ? '−' : '+'),
              h('span', {}, l.text)
            )
          )
        )
      )
    );
    return h(
      'div',
      { className: 'tb-ComparePage' },
      controls,
      h('div', { className: 'tb-CompareSides' }, side(c.a, 'A'), side(c.b, 'B')),
      h('section', { className: 'tb-Section', 'aria-label': 'Scores per fold' }, h('h3', {}, `Per-fold ${c.metric}`), folds, test, verdict),
      values('Tags', c.tags),
      values('Params', c.params),
      h(
        'section',
        { className: 'tb-Section', 'aria-label': 'Cells compared' },
        h('h3', {}, 'Cells (A → B)'),
        cells.length ? cells : h('p', { className: 'tb-Muted' }, c.cells.length ? 'The same code.' : 'Neither notebook has code cells yet.')
      )
    );
  }

  private _view: DashboardView = { view: 'overview' };
  private _frame: number | undefined;
  private _reload: ReturnType<typeof setTimeout> | undefined;
}
