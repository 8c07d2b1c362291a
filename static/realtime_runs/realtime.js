/**
 * realtime_runs in the browser (CONTRACT.md §6): follow runs live, trigger tasks, complete
 * wait tokens. An ES module with no dependencies and no build step:
 *
 *   import { subscribeToRun } from "/static/realtime_runs/realtime.js";
 *   const sub = subscribeToRun(runId, { accessToken, onUpdate: (run) => show(run) });
 *   sub.stop();
 *
 * All subscriptions of a page share one WebSocket to /realtime/v1/ws. The token travels in
 * each subscribe message, never in the URL. When the socket drops, it reconnects with
 * exponential backoff and jitter and resubscribes with `since`, so no run version and no
 * stream chunk is lost or delivered twice.
 */

const FINAL = new Set(["COMPLETED", "FAILED", "CANCELED", "CRASHED", "SYSTEM_FAILURE", "EXPIRED",
  "TIMED_OUT"]);
const PING_MS = 25000, MAX_BACKOFF_MS = 30000, IDLE_CLOSE_MS = 2000;

const config = { baseURL: "", accessToken: undefined };
const subs = new Map(); // subscription id → Subscription, while it is live
let socket = null;
let attempts = 0; // failed connections in a row, for the backoff
let retryTimer = null, pingTimer = null, idleTimer = null;
let lastHeard = 0, counter = 0;

/**
 * Set the defaults: `baseURL` (the server's origin, default: this page's) and a default
 * `accessToken` for calls that do not pass one. Call it before subscribing.
 * @param {{baseURL?: string, accessToken?: string}} options
 */
export function configure(options = {}) {
  if ("accessToken" in options) config.accessToken = options.accessToken;
  if ("baseURL" in options) {
    config.baseURL = (options.baseURL || "").replace(/\/+$/, "");
    if (socket) lost(socket, true); // reconnect to the new address
  }
}

const httpURL = (path) => (config.baseURL || location.origin) + path;
function call(fn, ...args) {
  try { fn?.(...args); } catch (error) { console.error(error); } // one throwing stops no other
}

// -- the shared socket ---------------------------------------------------------------------

function connect() {
  clearTimeout(idleTimer);
  if (socket || retryTimer || !subs.size) return;
  const ws = new WebSocket(httpURL("/realtime/v1/ws").replace(/^http/, "ws"));
  socket = ws;
  ws.onopen = () => {
    lastHeard = Date.now();
    pingTimer = setInterval(() => ping(ws), PING_MS);
    for (const sub of subs.values()) sub.send();
  };
  ws.onmessage = (event) => {
    attempts = 0;
    lastHeard = Date.now();
    onFrame(event.data);
  };
  ws.onclose = () => lost(ws);
}

function ping(ws) {
  if (Date.now() - lastHeard > 2 * PING_MS) return lost(ws, true); // silent: presumed dead
  ws.send('{"type":"ping"}');
}

/** The socket is gone (or given up on): forget it and, if anything is live, come back. */
function lost(ws, close = false) {
  if (close) ws.close();
  if (socket !== ws) return;
  socket = null;
  clearInterval(pingTimer);
  for (const sub of subs.values()) sub.sent = false;
  if (!subs.size || retryTimer) return;
  const backoff = Math.min(MAX_BACKOFF_MS, 500 * 2 ** attempts++);
  retryTimer = setTimeout(() => {
    retryTimer = null;
    connect();
  }, backoff / 2 + Math.random() * (backoff / 2));
}

function sendFrame(frame) {
  if (socket?.readyState !== 1) return false;
  socket.send(JSON.stringify(frame));
  return true;
}

function closeWhenIdle() {
  clearTimeout(idleTimer);
  idleTimer = setTimeout(() => {
    if (subs.size) return;
    clearTimeout(retryTimer);
    retryTimer = null;
    if (socket) lost(socket, true);
  }, IDLE_CLOSE_MS);
}

function onFrame(text) {
  let frame;
  try { frame = JSON.parse(text); } catch { return; }
  const sub = subs.get(frame.id);
  if (!sub) {
    if (frame.type === "error") console.warn(`realtime_runs: ${frame.code}: ${frame.message}`);
    return;
  }
  if (frame.type === "run") sub.onRun(frame.run);
  else if (frame.type === "stream") sub.onChunk(frame);
  else if (frame.type === "complete") sub.onCompleteFrame();
  else if (frame.type === "error") sub.onErrorFrame(frame);
}

// -- subscriptions -------------------------------------------------------------------------

class Subscription {
  constructor(kind, target, options) {
    this.id = `s${++counter}`;
    this.kind = kind; // "run", "tags" or "batch"
    this.target = target; // the fields of the subscribe message that say what to follow
    this.options = options;
    this.token = options.accessToken ?? config.accessToken;
    this.versions = new Map(); // run id → newest version held
    this.seqs = new Map(); // run id → {stream key: last seq held}
    this.pending = new Map(); // run id → newest run not yet given to onUpdate (throttling)
    this.timer = null;
    this.lastUpdate = 0;
    this.latest = null; // the run (run subscriptions)
    this.completed = false;
    this.sent = false; // subscribed on the current socket
  }

  start() {
    subs.set(this.id, this);
    connect();
    this.send();
  }

  send() {
    if (this.sent) return;
    const frame = { type: "subscribe", id: this.id, ...this.target };
    if (this.token) frame.token = this.token;
    if (this.kind === "run") {
      const since = {};
      const version = this.versions.get(this.target.run);
      const streams = this.seqs.get(this.target.run);
      if (version) since.version = version;
      if (streams) since.streams = { ...streams };
      if (version || streams) frame.since = since;
    }
    this.sent = sendFrame(frame);
  }

  onRun(run) {
    if (!(run.version > (this.versions.get(run.id) ?? 0))) return; // not newer: a copy
    this.versions.set(run.id, run.version);
    if (this.kind === "run") this.latest = run;
    this.update(run);
    // Without stopOnCompletion the server sends no "complete": the final run tells.
    if (this.kind === "run" && this.options.stopOnCompletion === false && FINAL.has(run.status)) {
      this.complete();
    }
  }

  update(run) {
    if (!this.options.onUpdate) return;
    this.pending.set(run.id, run);
    if (this.timer) return;
    const wait = this.lastUpdate + (this.options.throttleInMs || 0) - Date.now();
    if (wait <= 0) this.flush();
    else this.timer = setTimeout(() => this.flush(), wait);
  }

  flush() {
    clearTimeout(this.timer);
    this.timer = null;
    if (!this.pending.size) return;
    this.lastUpdate = Date.now();
    const runs = [...this.pending.values()];
    this.pending.clear();
    for (const run of runs) call(this.options.onUpdate, run);
  }

  onChunk({ runId, stream, seq, chunk }) {
    const held = this.seqs.get(runId) ?? {};
    if (seq <= (held[stream] ?? 0)) return;
    held[stream] = seq;
    this.seqs.set(runId, held);
    call(this.options.onStreamChunk, { runId, stream, seq, chunk });
  }

  onCompleteFrame() {
    this.end();
    this.complete();
  }

  complete() {
    this.flush(); // the final run reaches onUpdate before onComplete
    if (this.completed || !FINAL.has(this.latest?.status)) return;
    this.completed = true;
    call(this.options.onComplete, this.latest);
  }

  onErrorFrame({ code, message }) {
    this.end(); // an error with a subscription's id ends it on the server
    this.flush();
    call(this.options.onError, Object.assign(new Error(message), { code }));
  }

  /** Forget the subscription here (the server has ended it, or will). */
  end() {
    if (subs.get(this.id) === this) subs.delete(this.id);
    this.sent = false;
    if (!subs.size) closeWhenIdle();
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = null;
    this.pending.clear();
    if (subs.get(this.id) !== this) return;
    if (this.sent) sendFrame({ type: "unsubscribe", id: this.id });
    this.end();
  }

  renew(accessToken) {
    if (subs.get(this.id) === this) this.stop();
    this.token = accessToken ?? this.token;
    this.start();
  }
}

/**
 * @typedef {object} SubscribeOptions
 * @property {string} [accessToken] a public access token that may read what is followed
 *   (not needed on a page of a signed-in staff user)
 * @property {(run: object) => void} [onUpdate] each newer version of a run
 * @property {(run: object) => void} [onComplete] once, with the final run (runs only)
 * @property {(error: Error & {code: string}) => void} [onError] the subscription ended with an
 *   error: `code` is unauthorized, forbidden, not_found, invalid, token_expired or
 *   rate_limited. After token_expired, `renew(freshToken)` goes on where it stopped.
 * @property {boolean} [stopOnCompletion=true] end when the run is final (runs only)
 * @property {number} [throttleInMs=0] at most one onUpdate per run this often; the latest wins
 *   (and the final one is delivered at once when the subscription ends)
 * @property {string[]} [skipColumns] leave these run fields out (payload, output, metadata…)
 * @property {boolean} [withStreams=false] also deliver the run's stream chunks (runs only)
 * @property {(part: {runId: string, stream: string, seq: number, chunk: any}) => void}
 *   [onStreamChunk] each stream chunk, once and in order
 */

/**
 * @typedef {object} RealtimeSubscription
 * @property {string} id
 * @property {() => void} stop stop following; no callback is called after it
 * @property {(accessToken?: string) => void} renew subscribe again (with a fresh token),
 *   resuming after the newest version and stream chunks held
 */

function open(kind, target, options) {
  const sub = new Subscription(kind, target, options);
  if (options.skipColumns?.length) target.skipColumns = options.skipColumns;
  sub.start();
  return { id: sub.id, stop: () => sub.stop(), renew: (token) => sub.renew(token) };
}

/**
 * Follow one run: its current state, then every change, and its streams with `withStreams`.
 * @param {string} runId
 * @param {SubscribeOptions} [options]
 * @returns {RealtimeSubscription}
 */
export function subscribeToRun(runId, options = {}) {
  const target = { run: runId };
  if (options.withStreams) target.streams = true;
  if (options.stopOnCompletion === false) target.stopOnCompletion = false;
  return open("run", target, options);
}

/**
 * Follow every run that has all of `tags`, created in the `createdAt` window (default "24h",
 * up to "30d"), optionally only those with one of `status`. The feed stays open.
 * @param {string | string[]} tags
 * @param {SubscribeOptions & {createdAt?: string | number, status?: string | string[]}} [options]
 * @returns {RealtimeSubscription}
 */
export function subscribeToRunsWithTag(tags, options = {}) {
  const target = { tags: [].concat(tags) };
  if (options.createdAt !== undefined) target.createdAt = options.createdAt;
  if (options.status !== undefined) target.status = [].concat(options.status);
  return open("tags", target, options);
}

/**
 * Follow every run of a batch. The feed stays open.
 * @param {string} batchId
 * @param {SubscribeOptions} [options]
 * @returns {RealtimeSubscription}
 */
export function subscribeToBatch(batchId, options = {}) {
  return open("batch", { batch: batchId }, options);
}

// -- HTTP ----------------------------------------------------------------------------------

async function request(method, path, accessToken, body) {
  const headers = { Accept: "application/json" };
  const token = accessToken ?? config.accessToken;
  if (token) headers.Authorization = `Bearer ${token}`;
  else if (method !== "GET") {
    const csrf = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/); // a staff session
    if (csrf) headers["X-CSRFToken"] = decodeURIComponent(csrf[1]);
  }
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(httpURL(path), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = new Error(data?.error || `${method} ${path} answered ${response.status}`);
    throw Object.assign(error, { status: response.status, code: data?.code, body: data });
  }
  return data;
}

/**
 * The run object, once (GET /api/v3/runs/{id}).
 * @param {string} runId
 * @param {{accessToken?: string}} [options]
 * @returns {Promise<object>} rejects with an Error that has `status` and `code`
 */
export function fetchRun(runId, { accessToken } = {}) {
  return request("GET", `/api/v3/runs/${encodeURIComponent(runId)}`, accessToken);
}

/**
 * Trigger a run (POST /api/v1/tasks/{id}/trigger), with a trigger token for that task.
 * @param {string} taskId
 * @param {any} payload
 * @param {{accessToken?: string, options?: object}} [options] `options` as in the REST API:
 *   tags, idempotencyKey, delay, ttl, metadata, maxAttempts, …
 * @returns {Promise<{id: string, publicAccessToken: string, isCached: boolean}>}
 */
export function triggerTask(taskId, payload, { accessToken, options } = {}) {
  const body = options === undefined ? { payload } : { payload, options };
  return request("POST", `/api/v1/tasks/${encodeURIComponent(taskId)}/trigger`, accessToken, body);
}

/**
 * Complete a wait token (POST /api/v1/waitpoints/tokens/{id}/complete): the waiting run goes
 * on with `data` as the token's output. Needs `write:waitpoints[:id]`.
 * @param {string} tokenId
 * @param {any} data
 * @param {{accessToken?: string}} [options]
 * @returns {Promise<{success: true}>}
 */
export function completeWaitToken(tokenId, data, { accessToken } = {}) {
  const path = `/api/v1/waitpoints/tokens/${encodeURIComponent(tokenId)}/complete`;
  return request("POST", path, accessToken, { data });
}
