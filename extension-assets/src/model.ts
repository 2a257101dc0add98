// The panel's model: the connection, the experiment list, and the chosen
// experiment's snapshot kept current by its event stream. Views listen to its
// signals and never talk to the service themselves.

import { ISignal, Signal } from '@lumino/signaling';

import { SnapshotFold } from './fold';
import { Connection, ServiceClient, ServiceError, Stream, StreamHandlers } from './service';
import {
  Created,
  ExperimentSummary,
  JournalEvent,
  ListMessage,
  NewExperiment,
  Snapshot,
  StreamMessage,
  isListMessage,
  isStreamMessage
} from './tokens';

/** The state of the link to the service, shown in the panel's header. */
export type LinkState =
  | 'unconfigured' // no URL or token in the settings
  | 'connecting'
  | 'connected'
  | 'reconnecting'
  | 'refused' // 401/403: wrong token, or an origin the service does not allow
  | 'unreachable';

/** Where a notebook the service names lives for the Jupyter server. */
export function jupyterPath(notebookRoot: string, experiment: string, notebook: string): string {
  const parts = [notebookRoot, experiment, notebook]
    .flatMap(p => p.split('/'))
    .filter(p => p !== '' && p !== '.');
  return parts.join('/');
}

/** A reconnecting websocket, as the model sees it. */
export interface SocketHandle {
  dispose(): void;
  /** Reconnects now, asking for the URL again. */
  resync(): void;
}

/** Opens reconnecting websockets; the unit tests give one that opens nothing. */
export type SocketFactory = <T>(
  url: () => string,
  guard: (v: unknown) => v is T,
  handlers: StreamHandlers<T>
) => SocketHandle;

const realSockets: SocketFactory = (url, guard, handlers) => new Stream(url, guard, handlers);

export class PanelModel {
  constructor(options: { sockets?: SocketFactory; notebookRoot?: string } = {}) {
    this._sockets = options.sockets ?? realSockets;
    this.notebookRoot = options.notebookRoot ?? '';
  }

  /** The service root's path relative to the Jupyter server's root ('' when they are the same). */
  notebookRoot: string;

  get link(): LinkState {
    return this._link;
  }

  /** Why the link is in its state, for the header's tooltip and the connect form. */
  get linkDetail(): string {
    return this._linkDetail;
  }

  get connection(): Connection | undefined {
    return this._client?.connection;
  }

  get experiments(): readonly ExperimentSummary[] {
    return this._experiments;
  }

  get selected(): string | undefined {
    return this._selected;
  }

  /** The chosen experiment's state, once its snapshot arrived. */
  get snapshot(): Snapshot | undefined {
    return this._fold?.snapshot;
  }

  /** Whether a process runs the chosen experiment now (the service knows from its lock). */
  get live(): boolean {
    return this._live;
  }

  /** The last seq folded in; a reconnect resumes after it. */
  get lastSeq(): number {
    return this._fold?.snapshot.seq ?? 0;
  }

  /** The last error from an action or from the stream, shown until the next action. */
  get actionError(): string {
    return this._actionError;
  }

  /** Emits when the link, the list or the selection changes. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Emits after the chosen experiment's snapshot changed. */
  get snapshotChanged(): ISignal<this, void> {
    return this._snapshotChanged;
  }

  /** Emits every event folded in, after the snapshot changed. */
  get eventReceived(): ISignal<this, JournalEvent> {
    return this._eventReceived;
  }

  /** Connects to a service (or disconnects, given nothing), keeping the selection. */
  async configure(c: Connection | undefined): Promise<void> {
    const cur = this._client?.connection;
    if (c && cur && c.url === cur.url && c.token === cur.token && this._link !== 'refused') {
      return;
    }
    this._closeSockets();
    this._client = c && c.url && c.token ? new ServiceClient(c) : undefined;
    if (!this._client) {
      this._setLink(
        'unconfigured',
        'Set the service URL and token: run `trialbook lab install` while `trialbook serve` runs, or paste the URL it printed.'
      );
      return;
    }
    this._setLink('connecting', `Connecting to ${this._client.connection.url}`);
    await this.refresh();
  }

  /**
   * Asks for the experiment list over HTTP: it tells a refused token or
   * origin apart from a service that is down, which a websocket cannot. On
   * success the list and the chosen experiment's streams are (re)opened.
   */
  async refresh(): Promise<void> {
    const client = this._client;
    if (!client) {
      return;
    }
    try {
      const list = await client.experiments();
      if (client !== this._client) {
        return;
      }
      this._setList(list);
      if (!this._listSocket) {
        this._openList(client);
      }
      if (this._selected && !this._stream) {
        this._openStream(client, this._selected);
      }
      if (this._link !== 'connected' && this._link !== 'reconnecting') {
        this._setLink('connected', `Connected to ${client.connection.url}`);
      }
    } catch (err) {
      if (client === this._client) {
        this._failed(err);
      }
    }
  }

  /** Chooses the experiment to follow. */
  select(id: string | undefined): void {
    if (id === this._selected) {
      return;
    }
    this._stream?.dispose();
    this._stream = undefined;
    this._selected = id;
    this._fold = undefined;
    this._live = false;
    this._gapAt = -1;
    this._actionError = '';
    this._changed.emit();
    this._snapshotChanged.emit();
    if (id && this._client && this._link !== 'refused') {
      this._openStream(this._client, id);
    }
  }

  /** Creates an experiment from the form; the answer holds the rendered AGENTS.md. */
  async create(form: NewExperiment): Promise<Created> {
    const created = await this._requireClient().create(form);
    await this.refresh(); // list it now rather than at the list stream's next beat
    return created;
  }

  /** Start, stop or resume the chosen experiment (or the one named). */
  async control(verb: 'start' | 'stop' | 'resume', id = this._selected): Promise<void> {
    const client = this._requireClient();
    if (!id) {
      throw new Error('no experiment chosen');
    }
    this._actionError = '';
    try {
      await client.control(id, verb);
    } catch (err) {
      this._actionError = err instanceof Error ? err.message : String(err);
      throw err;
    } finally {
      this._changed.emit();
    }
  }

  /** The Jupyter path of a notebook of the chosen experiment. */
  notebookPath(notebook: string, experiment = this._selected ?? ''): string {
    return jupyterPath(this.notebookRoot, experiment, notebook);
  }

  /** Handles one message of the experiment stream; public so tests can feed recorded ones. */
  receive(m: StreamMessage): void {
    if (m.experiment !== this._selected) {
      return;
    }
    switch (m.kind) {
      case 'live':
        this._live = m.live;
        this._changed.emit();
        this._snapshotChanged.emit();
        return;
      case 'error':
        this._actionError = m.error;
        this._changed.emit();
        this._snapshotChanged.emit();
        return;
      case 'snapshot': {
        const { id: _id, live, ...snap } = m.snapshot;
        if (!this._fold || snap.seq >= this._fold.snapshot.seq) {
          this._fold = new SnapshotFold(snap);
          this._live = live ?? false;
          this._snapshotChanged.emit();
        }
        return;
      }
    }
    const e = m.event;
    if (!this._fold) {
      this._fold = new SnapshotFold();
    }
    const last = this._fold.snapshot.seq;
    if (e.seq <= last) {
      return; // already folded in: a replay that overlaps
    }
    if (e.seq > last + 1 && this._gapAt !== last) {
      // Something was missed: reconnect after the last seq we have. Once per
      // gap, so a journal with a real hole cannot make us loop.
      this._gapAt = last;
      this._stream?.resync();
      return;
    }
    this._fold.apply(e);
    this._snapshotChanged.emit();
    this._eventReceived.emit(e);
  }

  dispose(): void {
    clearTimeout(this._retry);
    this._closeSockets();
    this._client = undefined;
    Signal.clearData(this);
  }

  private _requireClient(): ServiceClient {
    if (!this._client) {
      throw new Error('not connected to trialbook serve');
    }
    return this._client;
  }

  private _setList(list: ExperimentSummary[]): void {
    const sorted = [...list].sort((a, b) => a.id.localeCompare(b.id));
    if (JSON.stringify(sorted) !== JSON.stringify(this._experiments)) {
      this._experiments = sorted;
      this._changed.emit();
    }
  }

  private _openList(client: ServiceClient): void {
    this._listSocket = this._sockets<ListMessage>(() => client.eventsUrl(), isListMessage, {
      open: () => {
        if (client === this._client) {
          this._setLink('connected', `Connected to ${client.connection.url}`);
        }
      },
      message: m => this._setList(m.experiments ?? []),
      closed: (reason, delay) => this._closed(client, reason, delay)
    });
  }

  private _openStream(client: ServiceClient, id: string): void {
    this._stream = this._sockets<StreamMessage>(
      // Without a snapshot yet, ask for one; after it, resume after its seq.
      () => client.eventsUrl(id, this._fold ? this.lastSeq : undefined),
      isStreamMessage,
      {
        open: () => {
          if (client === this._client) {
            this._setLink('connected', `Connected to ${client.connection.url}`);
          }
        },
        message: m => this.receive(m),
        closed: (reason, delay) => this._closed(client, reason, delay)
      }
    );
  }

  private _closed(client: ServiceClient, reason: string, delay: number): void {
    if (client !== this._client) {
      return;
    }
    this._setLink(
      'reconnecting',
      `${reason}; reconnecting in ${(delay / 1000).toFixed(1)} s` +
        (this._fold ? ` after seq ${this.lastSeq}` : '')
    );
    // A websocket refused at the handshake says nothing about why.
    void this._diagnose(client);
  }

  private async _diagnose(client: ServiceClient): Promise<void> {
    try {
      await client.experiments();
    } catch (err) {
      if (client === this._client && err instanceof ServiceError && err.refused) {
        this._failed(err);
      }
    }
  }

  private _closeSockets(): void {
    this._stream?.dispose();
    this._stream = undefined;
    this._listSocket?.dispose();
    this._listSocket = undefined;
  }

  private _failed(err: unknown): void {
    const msg = err instanceof Error ? err.message : String(err);
    if (err instanceof ServiceError && err.refused) {
      // Retrying with the same token cannot help: wait for new settings.
      this._closeSockets();
      this._setLink(
        'refused',
        `${msg}. Check the token (after restarting \`trialbook serve\`, run \`trialbook lab install\` again or paste its new URL) and that it allows this origin (--allow-origin ${globalThis.location?.origin ?? 'ORIGIN'}).`
      );
      return;
    }
    this._setLink('unreachable', msg);
    // Try again later: the service may be starting.
    clearTimeout(this._retry);
    this._retry = setTimeout(() => void this.refresh(), 3000);
  }

  private _setLink(state: LinkState, detail: string): void {
    if (state === this._link && detail === this._linkDetail) {
      return;
    }
    this._link = state;
    this._linkDetail = detail;
    this._changed.emit();
  }

  private _sockets: SocketFactory;
  private _client: ServiceClient | undefined;
  private _stream: SocketHandle | undefined;
  private _listSocket: SocketHandle | undefined;
  private _retry: ReturnType<typeof setTimeout> | undefined;
  private _link: LinkState = 'unconfigured';
  private _linkDetail = '';
  private _experiments: ExperimentSummary[] = [];
  private _selected: string | undefined;
  private _fold: SnapshotFold | undefined;
  private _live = false;
  private _gapAt = -1;
  private _actionError = '';
  private _changed = new Signal<this, void>(this);
  private _snapshotChanged = new Signal<this, void>(this);
  private _eventReceived = new Signal<this, JournalEvent>(this);
}
