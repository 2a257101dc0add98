// The views of the side panel. They draw from the model and call back into
// it; they never talk to the service.

import { Widget } from '@lumino/widgets';

import { h, s } from './dom';
import { LinkState, PanelModel } from './model';
import { parseServiceUrl, Connection, ServiceError } from './service';
import { Created, NewExperiment, Snapshot, TrialRow } from './tokens';
import {
  anyUsage,
  byCost,
  ensembleMembers,
  ensembleStatus,
  formatCost,
  formatTokens,
  totalTokens,
  usageSummary
} from './usage';

/** What the panel asks of the application. */
export interface PanelActions {
  /** Opens a notebook, by its path for the Jupyter server, in the main area. */
  openNotebook(path: string): void;
  /** Opens a markdown file, by its path for the Jupyter server, rendered. */
  openMarkdown(path: string): void;
  /** Saves a connection pasted into the panel into the extension's settings. */
  saveConnection(c: Connection): Promise<void>;
  /** Opens an experiment's dashboard in the main area. */
  openDashboard(experiment: string): void;
}

type SortKey = 'trial' | 'title' | 'score' | 'status' | 'time' | 'cost';

const LINK_TEXT: Record<LinkState, string> = {
  unconfigured: 'Not configured',
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  refused: 'Refused',
  unreachable: 'Unreachable'
};

/** Formats a score for people; the exact value stays in a data attribute. */
export function formatScore(v: number | undefined | null): string {
  if (v === undefined || v === null) {
    return '—';
  }
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) {
    return v.toExponential(3);
  }
  return a >= 1000 ? v.toFixed(1) : v.toPrecision(4);
}

/** Formats seconds as 1h02m03s, 2m05s or 4.2s. */
export function formatDuration(sec: number | undefined): string {
  if (sec === undefined || !Number.isFinite(sec) || sec < 0) {
    return '—';
  }
  if (sec < 60) {
    return `${sec.toFixed(1)}s`;
  }
  const total = Math.round(sec);
  const hh = Math.floor(total / 3600);
  const mm = Math.floor((total % 3600) / 60);
  const ss = total % 60;
  const two = (n: number) => String(n).padStart(2, '0');
  return hh > 0 ? `${hh}h${two(mm)}m${two(ss)}s` : `${mm}m${two(ss)}s`;
}

/** The whole side panel. */
export class TrialbookPanel extends Widget {
  constructor(
    private readonly _model: PanelModel,
    private readonly _actions: PanelActions
  ) {
    super();
    this.id = 'trialbook-panel';
    this.addClass('tb-Panel');
    this.title.caption = 'Trialbook';
    this.node.setAttribute('role', 'region');
    this.node.setAttribute('aria-label', 'Trialbook');
    this._newForm = new NewExperimentForm(this._model, this._actions, {
      started: id => {
        this._mode = 'view';
        this._model.select(id);
        this._render();
      },
      cancel: () => {
        this._mode = 'view';
        this._render();
      }
    });
    this.node.append(this._header, this._connectForm, this._toolbar, this._body);
    this._model.changed.connect(this._scheduleRender, this);
    this._model.snapshotChanged.connect(this._scheduleRender, this);
    this._render();
    // The elapsed time of a running experiment moves between events.
    this._clock = setInterval(() => this._tick(), 1000);
  }

  dispose(): void {
    clearInterval(this._clock);
    if (this._frame !== undefined) {
      cancelAnimationFrame(this._frame);
    }
    super.dispose();
  }

  /** Renders at the next frame, once however many changes arrive before it. */
  private _scheduleRender(): void {
    if (this._frame === undefined) {
      this._frame = requestAnimationFrame(() => {
        this._frame = undefined;
        this._render();
      });
    }
  }

  private _render(): void {
    // Live events redraw the experiment; keep the keyboard where it was.
    const focused = document.activeElement;
    const row = focused instanceof HTMLElement && this._body.contains(focused) ? focused.closest('tr[data-trial]') : null;
    const sortKey = focused instanceof HTMLElement && focused.classList.contains('tb-SortButton') ? focused.dataset.key : undefined;
    this._renderHeader();
    this._renderConnectForm();
    this._renderToolbar();
    // and the table where it was scrolled to.
    const scrollLeft = this._body.querySelector('.tb-TableScroll')?.scrollLeft ?? 0;
    this._body.replaceChildren(this._mode === 'new' ? this._newForm.node : this._renderExperiment());
    if (row) {
      this._body.querySelector<HTMLElement>(`tr[data-trial="${row.getAttribute('data-trial')}"]`)?.focus({ preventScroll: true });
    } else if (sortKey) {
      this._body.querySelector<HTMLElement>(`.tb-SortButton[data-key="${sortKey}"]`)?.focus({ preventScroll: true });
    }
    const scroller = this._body.querySelector('.tb-TableScroll');
    if (scroller) {
      scroller.scrollLeft = scrollLeft;
    }
  }

  // -- header: title and the link state ------------------------------------

  private _header = h('div', { className: 'tb-Header' });

  private _renderHeader(): void {
    const link = this._model.link;
    this._header.replaceChildren(
      h('h2', { className: 'tb-Title' }, 'Trialbook'),
      h(
        'span',
        {
          className: `tb-Link tb-Link-${link}`,
          role: 'status',
          'aria-label': 'Connection',
          'data-state': link,
          title: this._model.linkDetail
        },
        h('span', { className: 'tb-Link-dot', 'aria-hidden': 'true' }),
        LINK_TEXT[link]
      ),
      h(
        'button',
        {
          className: 'tb-Button tb-Button-small',
          title: 'Change the service URL and token',
          onclick: () => {
            this._connectOpen = !this._connectOpen;
            this._render();
          }
        },
        'Connection…'
      )
    );
  }

  // -- connect form: paste the URL `trialbook serve` printed -----------------

  private _connectForm = h('form', { className: 'tb-Connect', 'aria-label': 'Connect to trialbook serve' });
  private _connectOpen = false;

  private _renderConnectForm(): void {
    const link = this._model.link;
    const show = this._connectOpen || link === 'unconfigured' || link === 'refused';
    this._connectForm.hidden = !show;
    if (!show) {
      return;
    }
    if (this._connectForm.childElementCount > 0 && this._connectDrawnFor === link) {
      return; // keep what the user is typing
    }
    this._connectDrawnFor = link;
    const c = this._model.connection;
    const input = h('input', {
      type: 'text',
      name: 'url',
      placeholder: 'http://127.0.0.1:PORT/?token=…',
      'aria-label': 'Service URL with token',
      value: c ? `${c.url}/?token=${c.token}` : ''
    });
    const error = h('p', { className: 'tb-Error', role: 'alert' });
    this._connectForm.onsubmit = ev => {
      ev.preventDefault();
      const parsed = parseServiceUrl(input.value);
      if (!parsed || !parsed.token) {
        error.textContent = 'Paste the whole URL that `trialbook serve` printed, with its ?token=…';
        return;
      }
      this._connectOpen = false;
      this._actions.saveConnection(parsed).catch(err => {
        error.textContent = String(err);
      });
    };
    this._connectForm.replaceChildren(
      h('p', { className: 'tb-Muted' }, this._model.linkDetail),
      h('label', {}, 'Service URL ', input),
      h('button', { type: 'submit', className: 'tb-Button' }, 'Connect'),
      error
    );
  }
  private _connectDrawnFor: LinkState | undefined;

  // -- toolbar: choose an experiment, or make a new one ----------------------

  private _toolbar = h('div', { className: 'tb-Toolbar' });
  private _mode: 'view' | 'new' = 'view';

  private _renderToolbar(): void {
    const list = this._model.experiments;
    const selected = this._model.selected;
    const select = h(
      'select',
      {
        'aria-label': 'Experiment',
        onchange: ev => {
          const v = (ev.target as HTMLSelectElement).value;
          this._mode = 'view';
          this._model.select(v || undefined);
        }
      },
      h('option', { value: '' }, list.length ? 'Choose an experiment…' : 'No experiments yet'),
      list.map(x =>
        h(
          'option',
          { value: x.id, selected: x.id === selected },
          `${x.id}${x.status ? ` — ${x.status}` : ''}`
        )
      )
    );
    this._toolbar.replaceChildren(
      h('label', { className: 'tb-Field' }, 'Experiment ', select),
      h(
        'button',
        {
          className: 'tb-Button',
          disabled: this._model.link !== 'connected' && this._model.link !== 'reconnecting',
          'aria-pressed': this._mode === 'new' ? 'true' : 'false',
          onclick: () => {
            this._mode = this._mode === 'new' ? 'view' : 'new';
            if (this._mode === 'new') {
              this._newForm.reset();
            }
            this._render();
          }
        },
        'New experiment'
      )
    );
  }

  // -- the chosen experiment -------------------------------------------------

  private _body = h('div', { className: 'tb-Body' });
  private _elapsedEl: HTMLElement | undefined;
  private _sort: { key: SortKey; asc: boolean } = { key: 'score', asc: true };

  private _renderExperiment(): HTMLElement {
    const id = this._model.selected;
    if (!id) {
      return h('p', { className: 'tb-Muted' }, 'Choose an experiment, or create one.');
    }
    const snap = this._model.snapshot;
    if (!snap) {
      return h('p', { className: 'tb-Muted' }, `Loading ${id}…`);
    }
    return h(
      'div',
      { className: 'tb-Experiment' },
      this._renderStatus(id, snap),
      this._renderRunning(snap),
      this._renderBest(snap),
      this._renderChart(snap),
      this._renderTable(snap)
    );
  }

  private _renderStatus(id: string, snap: Snapshot): HTMLElement {
    const c = snap.counts;
    const p = snap.problem;
    this._elapsedEl = h('dd', { 'data-tb': 'elapsed' }, formatDuration(this._elapsed(snap)));
    // Which buttons apply (docs/api.md, Verbs): a live run can be stopped; a
    // paused, failed or finished one, or one whose process died, resumed.
    const live = this._model.live;
    const action = (verb: 'start' | 'stop' | 'resume', label: string, enabled: boolean) =>
      h(
        'button',
        {
          className: 'tb-Button',
          disabled: !enabled,
          onclick: async (ev: Event) => {
            const b = ev.currentTarget as HTMLButtonElement;
            b.disabled = true;
            try {
              await this._model.control(verb, id);
            } catch {
              // shown from model.actionError
            } finally {
              b.disabled = false;
            }
          }
        },
        label
      );
    return h(
      'section',
      { className: 'tb-Section', 'aria-label': 'Status' },
      h('h3', {}, p?.name || id),
      p
        ? h(
            'p',
            { className: 'tb-Muted' },
            `${p.task} · target ${p.target} · ${p.metric} (${p.direction}) · ${p.validation}`
          )
        : null,
      h(
        'dl',
        { className: 'tb-Facts' },
        h('dt', {}, 'Status'),
        h(
          'dd',
          { 'data-tb': 'status' },
          h('span', { className: `tb-Badge tb-Badge-${snap.status}` }, snap.status),
          snap.status === 'running' && !live ? h('span', { className: 'tb-Muted' }, ' (no process: resume it)') : null
        ),
        h('dt', {}, 'Elapsed'),
        this._elapsedEl,
        h('dt', {}, 'Trials'),
        h(
          'dd',
          { 'data-tb': 'trials', 'data-done': c.done, 'data-total': c.total },
          `${c.done} / ${c.total || '∞'} done`,
          h(
            'span',
            { className: 'tb-Muted' },
            ` · ${c.kept} kept · ${c.discarded} discarded · ${c.failed} failed` +
              (c.interrupted ? ` · ${c.interrupted} interrupted` : '') +
              (c.running ? ` · ${c.running} running` : '')
          )
        ),
        ...this._renderUsage(snap)
      ),
      snap.error ? h('p', { className: 'tb-Error', role: 'alert' }, snap.error) : null,
      h(
        'div',
        { className: 'tb-Actions' },
        action('start', 'Start', snap.status === 'created' && !live),
        // A finished or failed run may hold its lock a little longer (the
        // report, the exit): there is nothing left to stop.
        action('stop', 'Stop', live && snap.status !== 'finished' && snap.status !== 'failed'),
        action('resume', 'Resume', !live && snap.status !== 'created'),
        h(
          'button',
          {
            className: 'tb-Button',
            title: 'The leaderboard, the search over time, each trial and comparisons, in a main-area tab',
            onclick: () => this._actions.openDashboard(id)
          },
          'Open dashboard'
        )
      ),
      this._model.actionError ? h('p', { className: 'tb-Error', role: 'alert' }, this._model.actionError) : null
    );
  }

  /** The agent's tokens and estimated cost over the experiment, when it spent any. */
  private _renderUsage(snap: Snapshot): HTMLElement[] {
    const text = usageSummary(snap.usage);
    if (!text) {
      return [];
    }
    const u = snap.usage;
    return [
      h('dt', {}, 'Agent usage'),
      h(
        'dd',
        {
          'data-tb': 'usage',
          'data-tokens': totalTokens(u),
          'data-cost': String(u?.costUSD ?? 0),
          title: 'Tokens the LLM agent spent on all trials, and their estimated cost'
        },
        text
      )
    ];
  }

  private _elapsed(snap: Snapshot): number {
    let sec = snap.elapsed ?? 0;
    const updated = snap.updatedAt ? Date.parse(snap.updatedAt) : NaN;
    if (snap.status === 'running' && !Number.isNaN(updated)) {
      sec += Math.max(0, (Date.now() - updated) / 1000);
    }
    return sec;
  }

  private _tick(): void {
    const snap = this._model.snapshot;
    if (snap && snap.status === 'running' && this._elapsedEl?.isConnected) {
      this._elapsedEl.textContent = formatDuration(this._elapsed(snap));
    }
  }

  private _renderRunning(snap: Snapshot): HTMLElement | null {
    if (!snap.running.length) {
      return null;
    }
    return h(
      'section',
      { className: 'tb-Section', 'aria-label': 'Running trials' },
      h('h4', {}, 'Running'),
      snap.running.map(r =>
        h(
          'div',
          { className: 'tb-Running', 'data-trial': r.trial },
          h(
            'div',
            {},
            h('strong', {}, `#${r.trial} ${r.title || ''}`),
            h('span', { className: 'tb-Muted', 'data-tb': 'cell' }, r.cell === null || r.cell === undefined ? ' · between cells' : ` · cell ${r.cell}`)
          ),
          r.source ? h('pre', { className: 'tb-Source', 'aria-label': 'Cell code' }, r.source) : null,
          h('pre', { className: 'tb-Output', 'aria-label': 'Cell output' }, r.text || '')
        )
      )
    );
  }

  private _renderBest(snap: Snapshot): HTMLElement {
    const b = snap.best;
    const metric = snap.problem?.metric ?? b?.score?.metric ?? 'score';
    return h(
      'section',
      { className: 'tb-Section tb-Best', 'aria-label': 'Best trial' },
      h('h4', {}, 'Best'),
      b && b.score
        ? h(
            'dl',
            { className: 'tb-Facts' },
            h('dt', {}, `CV ${metric}`),
            h(
              'dd',
              { 'data-tb': 'best-cv', 'data-value': String(b.score.cv) },
              formatScore(b.score.cv),
              b.score.cvStd ? h('span', { className: 'tb-Muted' }, ` ± ${formatScore(b.score.cvStd)}`) : null
            ),
            h('dt', {}, 'Holdout'),
            h(
              'dd',
              { 'data-tb': 'best-holdout', 'data-value': b.score.holdout === undefined || b.score.holdout === null ? '' : String(b.score.holdout) },
              formatScore(b.score.holdout)
            ),
            h('dt', {}, 'Trial'),
            h(
              'dd',
              {},
              h(
                'a',
                {
                  href: '#',
                  className: 'tb-Link-notebook',
                  title: this._model.notebookPath(b.notebook),
                  onclick: (ev: Event) => {
                    ev.preventDefault();
                    this._actions.openNotebook(this._model.notebookPath(b.notebook));
                  }
                },
                `#${b.trial} ${b.title}`
              )
            )
          )
        : h('p', { className: 'tb-Muted' }, 'No kept trial yet.'),
      this._renderEnsemble(snap, metric),
      snap.report
        ? h(
            'p',
            {},
            h(
              'a',
              {
                href: '#',
                onclick: (ev: Event) => {
                  ev.preventDefault();
                  this._actions.openNotebook(this._model.notebookPath(snap.report ?? ''));
                }
              },
              'Open the report'
            )
          )
        : null
    );
  }

  /** The latest ensemble: its scores, its members, and whether predictions use it. */
  private _renderEnsemble(snap: Snapshot, metric: string): HTMLElement | null {
    const e = snap.ensemble;
    const st = ensembleStatus(e);
    if (!e?.score || !st) {
      return null;
    }
    const holdout = e.score.holdout;
    const verdict = st.used === undefined ? 'unknown' : st.used ? 'used' : 'not used';
    return h(
      'div',
      { className: 'tb-Ensemble', 'data-tb': 'ensemble', 'data-used': verdict },
      h(
        'h5',
        {},
        'Ensemble ',
        h(
          'span',
          { className: `tb-Badge tb-Badge-${st.used ? 'kept' : 'discarded'}`, 'data-tb': 'ensemble-used' },
          st.used === undefined ? 'use unknown' : st.used ? 'used' : 'not used'
        )
      ),
      h(
        'dl',
        { className: 'tb-Facts' },
        h('dt', {}, `CV ${metric}`),
        h(
          'dd',
          { 'data-tb': 'ensemble-cv', 'data-value': String(e.score.cv) },
          formatScore(e.score.cv),
          e.score.cvStd ? h('span', { className: 'tb-Muted' }, ` ± ${formatScore(e.score.cvStd)}`) : null
        ),
        h('dt', {}, 'Holdout'),
        h(
          'dd',
          { 'data-tb': 'ensemble-holdout', 'data-value': holdout === undefined || holdout === null ? '' : String(holdout) },
          formatScore(holdout)
        ),
        ensembleMembers(e) ? h('dt', {}, 'Blend') : null,
        ensembleMembers(e) ? h('dd', { 'data-tb': 'ensemble-members' }, ensembleMembers(e)) : null
      ),
      st.why ? h('p', { className: 'tb-Muted', 'data-tb': 'ensemble-why' }, st.why) : null
    );
  }

  /** Score per trial, with the best-so-far line, as a small SVG. */
  private _renderChart(snap: Snapshot): HTMLElement | null {
    const scored = snap.leaderboard
      .filter(r => r.score)
      .sort((a, b) => a.trial - b.trial);
    if (!scored.length) {
      return null;
    }
    const minimize = (scored[0].score?.direction ?? snap.problem?.direction) === 'minimize';
    const W = 300;
    const H = 120;
    const pad = { l: 44, r: 8, t: 8, b: 20 };
    const cvs = scored.map(r => r.score?.cv ?? 0);
    let lo = Math.min(...cvs);
    let hi = Math.max(...cvs);
    if (lo === hi) {
      lo -= Math.abs(lo) * 0.05 || 1;
      hi += Math.abs(hi) * 0.05 || 1;
    }
    const maxTrial = Math.max(...scored.map(r => r.trial), snap.counts.total, 2);
    const x = (t: number) => pad.l + ((t - 1) / Math.max(1, maxTrial - 1)) * (W - pad.l - pad.r);
    const y = (v: number) => pad.t + ((hi - v) / (hi - lo)) * (H - pad.t - pad.b);

    // The best-so-far line steps through kept trials only: it is what the
    // harness would hand back at each point.
    const steps: string[] = [];
    let best: number | undefined;
    for (const r of scored) {
      const v = r.score?.cv ?? 0;
      if (r.status === 'kept' && (best === undefined || (minimize ? v < best : v > best))) {
        if (best !== undefined) {
          steps.push(`L${x(r.trial).toFixed(1)},${y(best).toFixed(1)}`);
        }
        best = v;
        steps.push(`${steps.length ? 'L' : 'M'}${x(r.trial).toFixed(1)},${y(v).toFixed(1)}`);
      }
    }
    if (best !== undefined) {
      steps.push(`L${x(maxTrial).toFixed(1)},${y(best).toFixed(1)}`);
    }
    const svg = s(
      'svg',
      {
        className: 'tb-Chart',
        viewBox: `0 0 ${W} ${H}`,
        role: 'img',
        'aria-label': `${snap.problem?.metric ?? 'score'} per trial, with the best so far`
      },
      s('line', { className: 'tb-Axis', x1: pad.l, y1: H - pad.b, x2: W - pad.r, y2: H - pad.b }),
      s('line', { className: 'tb-Axis', x1: pad.l, y1: pad.t, x2: pad.l, y2: H - pad.b }),
      s('text', { className: 'tb-AxisLabel', x: pad.l - 4, y: pad.t + 8, 'text-anchor': 'end' }, formatScore(hi)),
      s('text', { className: 'tb-AxisLabel', x: pad.l - 4, y: H - pad.b, 'text-anchor': 'end' }, formatScore(lo)),
      s('text', { className: 'tb-AxisLabel', x: W - pad.r, y: H - 4, 'text-anchor': 'end' }, `trial ${maxTrial}`),
      s('text', { className: 'tb-AxisLabel', x: pad.l, y: H - 4 }, 'trial 1'),
      steps.length ? s('path', { className: 'tb-BestLine', d: steps.join(' ') }) : null,
      scored.map(r =>
        s(
          'circle',
          {
            className: `tb-Point tb-Point-${r.status}`,
            cx: x(r.trial).toFixed(1),
            cy: y(r.score?.cv ?? 0).toFixed(1),
            r: 4
          },
          s('title', {}, `#${r.trial} ${r.title}: ${formatScore(r.score?.cv)} (${r.status})`)
        )
      )
    );
    return h('section', { className: 'tb-Section', 'aria-label': 'Score per trial' }, h('h4', {}, 'Score per trial'), svg);
  }

  private _renderTable(snap: Snapshot): HTMLElement {
    const rows = this._sorted(snap);
    const header = (key: SortKey, label: string) => {
      const active = this._sort.key === key;
      return h(
        'th',
        { 'aria-sort': active ? (this._sort.asc ? 'ascending' : 'descending') : 'none', scope: 'col' },
        h(
          'button',
          {
            className: 'tb-SortButton',
            'data-key': key,
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
    const usage = anyUsage(snap.leaderboard);
    const open = (r: TrialRow) => {
      if (r.notebook) {
        this._actions.openNotebook(this._model.notebookPath(r.notebook));
      }
    };
    return h(
      'section',
      { className: 'tb-Section', 'aria-label': 'Trials' },
      h('h4', {}, 'Trials'),
      // Narrower than the table (a Usage column, a narrow sidebar): it
      // scrolls sideways rather than squeezing titles to a letter a line.
      h(
        'div',
        { className: 'tb-TableScroll' },
        h(
          'table',
          { className: 'tb-Table', 'aria-label': 'Trials' },
          h('thead', {}, h('tr', {}, header('trial', '#'), header('title', 'Title'), header('score', 'Score'), header('status', 'Status'), header('time', 'Time'), usage ? header('cost', 'Usage') : null)),
          h(
            'tbody',
            {},
            rows.map(r =>
              h(
                'tr',
                {
                  tabindex: 0,
                  className: `tb-Row tb-Row-${r.status}`,
                  'data-trial': r.trial,
                  title: r.reason ? `${r.status}: ${r.reason}` : `Open ${r.notebook}`,
                  onclick: () => open(r),
                  onkeydown: (ev: Event) => {
                    if ((ev as KeyboardEvent).key === 'Enter') {
                      open(r);
                    }
                  }
                },
                h('td', {}, String(r.trial)),
                h('td', {}, h('span', { className: 'tb-RowTitle' }, r.title)),
                h('td', { 'data-value': r.score ? String(r.score.cv) : '' }, formatScore(r.score?.cv)),
                h('td', {}, h('span', { className: `tb-Badge tb-Badge-${r.status}` }, r.status)),
                h('td', {}, r.duration ? formatDuration(r.duration) : '—'),
                usage ? this._usageCell(r) : null
              )
            )
          )
        )
      )
    );
  }

  /** A trial's estimated cost over its tokens: what its proposal and fixes spent. */
  private _usageCell(r: TrialRow): HTMLElement {
    const u = r.usage;
    if (!u) {
      return h('td', { 'data-tb': 'trial-usage' }, '—');
    }
    return h(
      'td',
      {
        'data-tb': 'trial-usage',
        'data-cost': String(u.costUSD ?? 0),
        'data-tokens': totalTokens(u),
        title: `${u.inputTokens ?? 0} input + ${u.outputTokens ?? 0} output tokens; the cost is an estimate`
      },
      formatCost(u.costUSD ?? 0),
      h('br', {}),
      h('span', { className: 'tb-Muted' }, `${formatTokens(totalTokens(u))} tok`)
    );
  }

  private _sorted(snap: Snapshot): TrialRow[] {
    const { key, asc } = this._sort;
    const rows = [...snap.leaderboard];
    if (key === 'cost') {
      return byCost(rows, asc);
    }
    if (key === 'score') {
      // The leaderboard's own order is best first; descending reverses it.
      return asc ? rows : rows.reverse();
    }
    const val = (r: TrialRow): string | number =>
      key === 'trial' ? r.trial : key === 'title' ? r.title.toLowerCase() : key === 'status' ? r.status : (r.duration ?? 0);
    rows.sort((a, b) => {
      const va = val(a);
      const vb = val(b);
      const c = va < vb ? -1 : va > vb ? 1 : a.trial - b.trial;
      return asc ? c : -c;
    });
    return rows;
  }

  // -- new experiment --------------------------------------------------------

  private _newForm: NewExperimentForm;

  private _frame: number | undefined;
  private _clock: ReturnType<typeof setInterval>;
}

/** The "New experiment" form: fields, then the rendered AGENTS.md, then Start. */
class NewExperimentForm {
  constructor(
    private readonly _model: PanelModel,
    private readonly _actions: PanelActions,
    private readonly _done: { started(id: string): void; cancel(): void }
  ) {
    this.reset();
  }

  readonly node = h('section', { className: 'tb-Section tb-New', 'aria-label': 'New experiment' });

  reset(): void {
    this._created = undefined;
    this._drawForm();
  }

  private _drawForm(): void {
    const field = (label: string, input: HTMLElement, hint?: string) =>
      h('label', { className: 'tb-Field' }, h('span', {}, label), input, hint ? h('small', { className: 'tb-Muted' }, hint) : null);
    const text = (name: string, placeholder = '', required = false) =>
      h('input', { type: 'text', name, placeholder, required });
    const select = (name: string, options: string[]) =>
      h('select', { name }, options.map(o => h('option', { value: o }, o || '(guess from the data)')));
    const error = h('p', { className: 'tb-Error', role: 'alert' });
    const form = h(
      'form',
      { className: 'tb-Form' },
      h('h3', {}, 'New experiment'),
      field('Name', text('name', 'e.g. diabetes', true), 'the experiment folder, created under the service root'),
      field('Data file', text('data', 'e.g. data/diabetes.csv', true), 'CSV or Parquet, relative to the service root'),
      field('Target column', text('target', 'e.g. target', true)),
      field('Task', select('task', ['', 'regression', 'binary', 'multiclass'])),
      field('Metric', text('metric', 'e.g. rmse, auc, logloss (default: the task’s)')),
      field('Validation', select('validation', ['', 'kfold', 'stratified_kfold', 'group_kfold', 'time_series'])),
      field('Folds', h('input', { type: 'number', name: 'folds', min: 2, placeholder: '5' })),
      field('Group column', text('group', 'group_kfold only')),
      field('Time column', text('time', 'time_series only')),
      field('Trials', h('input', { type: 'number', name: 'trials', min: 1, value: 10 })),
      field('Time budget', text('timeBudget', 'e.g. 30m, 1h30m')),
      h('label', { className: 'tb-Check' }, h('input', { type: 'checkbox', name: 'featureResearch' }), 'Feature research'),
      h('label', { className: 'tb-Check' }, h('input', { type: 'checkbox', name: 'explain' }), 'Explainability'),
      field('Context', h('textarea', { name: 'context', rows: 4, placeholder: 'What the agents should know about the data and the goal' })),
      h(
        'div',
        { className: 'tb-Actions' },
        h('button', { type: 'submit', className: 'tb-Button tb-Button-primary' }, 'Review AGENTS.md'),
        h('button', { type: 'button', className: 'tb-Button', onclick: () => this._done.cancel() }, 'Cancel')
      ),
      error
    );
    form.onsubmit = async ev => {
      ev.preventDefault();
      const fd = new FormData(form);
      const str = (k: string) => String(fd.get(k) ?? '').trim();
      const int = (k: string) => {
        const n = Number(str(k));
        return str(k) !== '' && Number.isInteger(n) && n > 0 ? n : undefined;
      };
      const body: NewExperiment = {
        name: str('name'),
        data: str('data'),
        target: str('target'),
        task: str('task') || undefined,
        metric: str('metric') || undefined,
        validation: str('validation') || undefined,
        folds: int('folds'),
        group: str('group') || undefined,
        time: str('time') || undefined,
        trials: int('trials'),
        timeBudget: str('timeBudget') || undefined,
        featureResearch: fd.get('featureResearch') === 'on',
        explain: fd.get('explain') === 'on',
        context: str('context') || undefined
      };
      const submit = form.querySelector('button[type=submit]') as HTMLButtonElement;
      submit.disabled = true;
      error.textContent = '';
      form.querySelectorAll('[aria-invalid]').forEach(el => el.removeAttribute('aria-invalid'));
      try {
        this._created = await this._model.create(body);
        this._drawReview();
      } catch (err) {
        // The service names the field that is wrong; the form keeps what was
        // typed and puts the cursor there.
        error.textContent = err instanceof Error ? err.message : String(err);
        const field = err instanceof ServiceError && err.field ? form.querySelector<HTMLElement>(`[name="${err.field}"]`) : null;
        if (field) {
          field.setAttribute('aria-invalid', 'true');
          field.focus();
        }
        error.scrollIntoView({ block: 'nearest' });
      } finally {
        submit.disabled = false;
      }
    };
    this.node.replaceChildren(form);
  }

  private _drawReview(): void {
    const created = this._created;
    if (!created) {
      return;
    }
    const error = h('p', { className: 'tb-Error', role: 'alert' });
    this.node.replaceChildren(
      h('h3', {}, `Review ${created.id}`),
      ...this._guessed(created),
      h('p', { className: 'tb-Muted' }, 'This is the AGENTS.md the agents will follow. Start when it reads right.'),

      h('pre', { className: 'tb-AgentsMd', 'aria-label': 'AGENTS.md' }, created.agentsMd),
      h(
        'div',
        { className: 'tb-Actions' },
        h(
          'button',
          {
            className: 'tb-Button tb-Button-primary',
            onclick: async (ev: Event) => {
              const b = ev.currentTarget as HTMLButtonElement;
              b.disabled = true;
              try {
                await this._model.control('start', created.id);
                this._done.started(created.id);
              } catch (err) {
                error.textContent = err instanceof Error ? err.message : String(err);
                b.disabled = false;
              }
            }
          },
          'Start'
        ),
        h(
          'button',
          {
            className: 'tb-Button',
            title: 'Open AGENTS.md rendered in the main area',
            onclick: () => this._actions.openMarkdown(this._model.notebookPath('AGENTS.md', created.id))
          },
          'Open in a tab'
        ),
        h('button', { className: 'tb-Button', onclick: () => this._done.started(created.id) }, 'Not now'),
        h('button', { className: 'tb-Button', onclick: () => this._drawForm() }, 'Back')
      ),
      error
    );
  }

  private _guessed(c: Created): HTMLElement[] {
    return c.guessed?.length
      ? [
          h('p', { className: 'tb-Muted' }, 'Guessed from the data:'),
          h('ul', { className: 'tb-Guessed', 'aria-label': 'Guessed from the data' }, c.guessed.map(g => h('li', {}, g)))
        ]
      : [];
  }

  private _created: Created | undefined;
}
