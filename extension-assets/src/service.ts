// The HTTP and websocket client for `trialbook serve` (docs/api.md). It knows
// URLs, the token and the wire; it does not know what the panel shows.

import {
  Comparison,
  Created,
  ExperimentSummary,
  NewExperiment,
  TrialCells,
  View,
  errorField,
  errorMessage,
  isCreated,
  isComparison,
  isExperimentList,
  isTrialCells,
  isView
} from './tokens';

/** Where the service is and the token it wants. */
export interface Connection {
  /** The service's base URL, e.g. http://127.0.0.1:8765 */
  url: string;
  token: string;
}

/** An error answer from the service; status 401/403 means the token or origin was refused. */
export class ServiceError extends Error {
  constructor(
    message: string,
    readonly status: number,
    /** The form field at fault, when the service names one. */
    readonly field?: string
  ) {
    super(message);
    this.name = 'ServiceError';
  }

  /** True when the service refused who we are, rather than what we asked. */
  get refused(): boolean {
    return this.status === 401 || this.status === 403;
  }
}

/**
 * Parses what a user pastes or `trialbook serve` prints:
 * `http://127.0.0.1:PORT/?token=TOKEN` (or a URL without a token).
 */
export function parseServiceUrl(text: string): Connection | undefined {
  let u: URL;
  try {
    u = new URL(text.trim());
  } catch {
    return undefined;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    return undefined;
  }
  const token = u.searchParams.get('token') ?? '';
  return { url: `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`, token };
}

/** The client for one service. */
export class ServiceClient {
  constructor(readonly connection: Connection) {}

  private _url(path: string): string {
    return this.connection.url.replace(/\/+$/, '') + path;
  }

  private async _request(method: string, path: string, body?: unknown): Promise<unknown> {
    const headers: Record<string, string> = {
      Authorization: `token ${this.connection.token}`
    };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
    }
    let resp: Response;
    try {
      resp = await fetch(this._url(path), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'omit',
        cache: 'no-store'
      });
    } catch (err) {
      // A CORS refusal and a service that is down look the same from here.
      throw new ServiceError(
        `cannot reach ${this.connection.url} (is \`trialbook serve\` running, and does it allow this origin?)`,
        0
      );
    }
    const text = await resp.text();
    let json: unknown = undefined;
    if (text && (resp.headers.get('Content-Type') ?? '').includes('json')) {
      try {
        json = JSON.parse(text);
      } catch {
        throw new ServiceError(`${method} ${path}: the service sent invalid JSON`, resp.status);
      }
    }
    if (!resp.ok) {
      const msg = errorMessage(json) ?? (text.trim() || resp.statusText);
      throw new ServiceError(`${method} ${path}: ${resp.status} ${msg}`, resp.status, errorField(json));
    }
    return json ?? text;
  }

  async experiments(): Promise<ExperimentSummary[]> {
    const v = await this._request('GET', '/api/experiments');
    if (!isExperimentList(v)) {
      throw new ServiceError('GET /api/experiments: unexpected answer', 200);
    }
    return v.experiments ?? [];
  }

  async snapshot(id: string): Promise<View> {
    const v = await this._request('GET', `/api/experiments/${encodeURIComponent(id)}`);
    if (!isView(v)) {
      throw new ServiceError(`GET /api/experiments/${id}: unexpected answer`, 200);
    }
    return v;
  }

  async trialCells(id: string, trial: number): Promise<TrialCells> {
    const path = `/api/experiments/${encodeURIComponent(id)}/trials/${trial}/cells`;
    const v = await this._request('GET', path);
    if (!isTrialCells(v)) {
      throw new ServiceError(`GET ${path}: unexpected answer`, 200);
    }
    return v;
  }

  async compare(id: string, a: number, b: number): Promise<Comparison> {
    const path = `/api/experiments/${encodeURIComponent(id)}/compare?a=${a}&b=${b}`;
    const v = await this._request('GET', path);
    if (!isComparison(v)) {
      throw new ServiceError(`GET ${path}: unexpected answer`, 200);
    }
    return v;
  }

  async agentsMd(id: string): Promise<string> {
    const v = await this._request('GET', `/api/experiments/${encodeURIComponent(id)}/agents-md`);
    return typeof v === 'string' ? v : '';
  }

  async create(form: NewExperiment): Promise<Created> {
    const v = await this._request('POST', '/api/experiments', form);
    if (!isCreated(v)) {
      throw new ServiceError('POST /api/experiments: unexpected answer', 200);
    }
    return v;
  }

  async control(id: string, verb: 'start' | 'stop' | 'resume'): Promise<void> {
    await this._request('POST', `/api/experiments/${encodeURIComponent(id)}/${verb}`);
  }

  /**
   * The websocket URL for one experiment's events: without after, the service
   * starts with a snapshot; with it, with the events after that seq. Without
   * an experiment, the experiment list's websocket.
   */
  eventsUrl(id?: string, after?: number): string {
    const u = new URL(this._url('/api/events'));
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    if (id !== undefined) {
      u.searchParams.set('experiment', id);
    }
    if (after !== undefined) {
      u.searchParams.set('after', String(after));
    }
    // Browsers cannot set headers on a websocket: the token goes in the URL,
    // which the service accepts on this path only.
    u.searchParams.set('token', this.connection.token);
    return u.toString();
  }
}

/** What a Stream reports to its owner. */
export interface StreamHandlers<T> {
  open(): void;
  message(m: T): void;
  /** The socket closed; the stream will reconnect after delayMs unless disposed. */
  closed(reason: string, delayMs: number): void;
}

/** Reconnect delays: 250 ms doubling to 8 s, with jitter so clients spread out. */
export function backoff(attempt: number): number {
  const base = Math.min(8000, 250 * 2 ** Math.min(attempt, 5));
  return Math.round(base * (0.75 + Math.random() * 0.5));
}

/**
 * A websocket that reconnects with backoff. Its URL is asked for again on
 * every connect, so an experiment's stream resumes after the last seq its
 * owner saw. Messages that fail the guard are dropped with a warning.
 */
export class Stream<T> {
  constructor(
    private readonly _url: () => string,
    private readonly _guard: (v: unknown) => v is T,
    private readonly _handlers: StreamHandlers<T>
  ) {
    this._connect();
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Closes the socket now and reconnects after lastSeq (used on a gap). */
  resync(): void {
    this._socket?.close(4000, 'resync');
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    clearTimeout(this._timer);
    if (this._socket) {
      this._socket.onclose = null;
      this._socket.close(1000, 'done');
    }
  }

  private _connect(): void {
    if (this._disposed) {
      return;
    }
    const ws = new WebSocket(this._url());
    this._socket = ws;
    ws.onopen = () => {
      this._handlers.open();
    };
    ws.onmessage = ev => {
      if (typeof ev.data !== 'string') {
        return;
      }
      let v: unknown;
      try {
        v = JSON.parse(ev.data);
      } catch {
        console.warn('trialbook: ignoring a message that is not JSON');
        return;
      }
      if (!this._guard(v)) {
        console.warn('trialbook: ignoring an unexpected message', v);
        return;
      }
      // A message means the connection works: start the backoff over.
      this._attempt = 0;
      this._handlers.message(v);
    };
    ws.onclose = ev => {
      this._socket = undefined;
      if (this._disposed) {
        return;
      }
      const delay = ev.code === 4000 ? 0 : backoff(this._attempt++);
      const reason = ev.reason || closeReason(ev.code);
      this._handlers.closed(reason, delay);
      this._timer = setTimeout(() => this._connect(), delay);
    };
  }

  private _socket: WebSocket | undefined;
  private _timer: ReturnType<typeof setTimeout> | undefined;
  private _attempt = 0;
  private _disposed = false;
}

function closeReason(code: number): string {
  switch (code) {
    case 1006:
      return 'connection lost';
    case 1001:
      return 'the service stopped';
    case 1008:
      return 'dropped by the service (policy)';
    case 1011:
      return 'the service hit an error';
    case 1013:
      return 'dropped by the service (too slow)';
    case 4000:
      return 'resyncing';
    default:
      return `closed (${code})`;
  }
}
