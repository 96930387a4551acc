// Task Observatory dashboard. Plain ES module, no build step, no third-party code:
// everything comes from this read model (same origin) and the gateway named by /config.

import { ago, duration, fmtInt, h, jobDuration, PRIORITY_TITLE, priorityBadge, priorityOf, shortId, statusPill, terminal } from "./dom.js";
import { jobsPage } from "./jobs_page.js";
import { followTopbar } from "./layout.js";
import { retryUi } from "./retry.js";
import { schedulesPanel } from "./schedules_panel.js";
import { createSplash } from "./splash.js";
import { taskForm } from "./task_form.js";
import { workerPanels } from "./workers_panel.js";

export { LOGO, SPLASH_MESSAGES } from "./splash.js";

const PAGE_SIZE = 10;
const POLL_MS = 5000;
const STREAM_RETRY_MS = 3000;
const RETRY_S = 5;
const STATUSES = ["PENDING", "VALIDATED", "EXECUTING", "COMPLETED", "FAILED"];

const $ = (id) => document.getElementById(id);

class HttpError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

const TOKEN_KEY = "observatory-token";

function token() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  } catch (error) {
    return "";
  }
}

function authHeaders(extra = {}) {
  const headers = { Accept: "application/json", ...extra };
  if (token()) headers.Authorization = `Bearer ${token()}`;
  return headers;
}

async function checked(response) {
  const body = await response.json().catch(() => null);
  if (response.status === 401) askForToken(body && body.error);
  if (!response.ok) throw new HttpError(response.status, body);
  return body;
}

async function getJSON(url) {
  return checked(await fetch(url, { headers: authHeaders() }));
}

async function deleteJSON(url) {
  return checked(await fetch(url, { method: "DELETE", headers: authHeaders() }));
}

async function postJSON(url, payload) {
  const init = { method: "POST", headers: authHeaders() };
  if (payload !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(payload);
  }
  return checked(await fetch(url, init));
}

async function patchJSON(url, payload) {
  return checked(await fetch(url, { method: "PATCH", headers: authHeaders({ "Content-Type": "application/json" }), body: JSON.stringify(payload) }));
}

// ---------------------------------------------------------------- token

let tokenWaiters = [];

function askForToken(reason) {
  $("token-open").hidden = false;
  if (!$("token-modal").hidden) return;
  $("token-error").textContent = token() ? `The token was refused: ${reason || "not valid"}.` : "";
  $("token-input").value = "";
  $("token-modal").hidden = false;
  $("token-input").focus();
}

function tokenGiven() {
  return new Promise((resolve) => tokenWaiters.push(resolve));
}

function saveToken(event) {
  event.preventDefault();
  const value = $("token-input").value.trim();
  if (!value) {
    $("token-error").textContent = "Paste the token you were given.";
    return;
  }
  try {
    sessionStorage.setItem(TOKEN_KEY, value);
  } catch (error) {
    $("token-error").textContent = "This browser keeps no session storage; the token cannot be kept.";
    return;
  }
  $("token-modal").hidden = true;
  const waiters = tokenWaiters;
  tokenWaiters = [];
  waiters.forEach((resolve) => resolve());
  if (state.stream) state.stream.abort();
}

// ---------------------------------------------------------------- state

const state = {
  config: null,
  stats: null,
  alerts: { active: [], resolved: [] },
  jobs: [],
  page: 0,
  filterStatus: "",
  filterType: "",
  events: [],
  deadLetters: [],
  deadLetterCount: 0,
  throughput: null,
  mode: "off", // live | polling | off
  stream: null,
  pollTimer: null,
  openJobId: null,
  retryStatus: {},
  editingDeadLetter: null,
  armedDiscards: new Set(),
};

const retry = retryUi({ h, postJSON, gatewayUrl, describe, openJob, state });
const panels = workerPanels({ getJSON });
const jobsView = jobsPage({ getJSON, postJSON, gatewayUrl, describe, openJob, state });
const schedules = schedulesPanel({ getJSON, postJSON, patchJSON, gatewayUrl, describe, openJob, state });
const task = taskForm({ $, h, getJSON, postJSON, gatewayUrl, openJob, HttpError });

function gatewayUrl(path) {
  const base = (state.config && state.config.gatewayUrl) || "";
  return base.replace(/\/+$/, "") + path;
}

const splash = createSplash({ $, HttpError, retryS: RETRY_S });

// ---------------------------------------------------------------- rendering

function renderStats() {
  const s = state.stats;
  if (!s) return;
  $("stat-total").textContent = fmtInt(s.totalJobs);
  $("stat-completed").textContent = fmtInt(s.completedJobs);
  $("stat-failed").textContent = fmtInt(s.failedJobs);
  $("stat-inflight").textContent = fmtInt(s.inFlightJobs);
  const types = new Set([...(state.config?.jobTypes || []), ...Object.keys(s.byType || {})]);
  const select = $("filter-type");
  const known = new Set([...select.options].map((o) => o.value));
  for (const type of [...types].sort()) {
    if (!known.has(type)) select.append(h("option", { value: type }, type));
  }
}

function renderThroughput() {
  const t = state.throughput;
  if (!t) return;
  $("stat-throughput").textContent = t.perSecond.toFixed(t.perSecond >= 10 ? 0 : 2);
  const svg = $("chart");
  svg.replaceChildren();
  const buckets = t.buckets || [];
  const slots = Math.max(1, Math.round(t.windowSeconds / t.bucketSeconds));
  const width = 600 / slots;
  const max = Math.max(1, ...buckets.map((b) => b.completed + b.failed));
  const ns = "http://www.w3.org/2000/svg";
  const offset = slots - buckets.length;
  buckets.forEach((bucket, i) => {
    const x = (offset + i) * width + 1;
    const okH = (bucket.completed / max) * 110;
    const badH = (bucket.failed / max) * 110;
    for (const [cls, y, height, label] of [
      ["bar-ok", 118 - okH - badH, okH, `${bucket.completed} completed`],
      ["bar-bad", 118 - badH, badH, `${bucket.failed} failed`],
    ]) {
      if (height <= 0) continue;
      const rect = document.createElementNS(ns, "rect");
      rect.setAttribute("class", cls);
      rect.setAttribute("x", x.toFixed(1));
      rect.setAttribute("y", y.toFixed(1));
      rect.setAttribute("width", Math.max(1, width - 2).toFixed(1));
      rect.setAttribute("height", height.toFixed(1));
      const title = document.createElementNS(ns, "title");
      title.textContent = `${new Date(bucket.start).toLocaleTimeString()}: ${label}`;
      rect.append(title);
      svg.append(rect);
    }
  });
  const axis = document.createElementNS(ns, "line");
  axis.setAttribute("class", "axis");
  for (const [k, v] of Object.entries({ x1: 0, y1: 118.5, x2: 600, y2: 118.5 })) axis.setAttribute(k, v);
  svg.append(axis);
  const total = buckets.reduce((sum, b) => sum + b.completed + b.failed, 0);
  $("chart-note").textContent = buckets.length
    ? `${fmtInt(total)} finished in ${Math.round((buckets.length * t.bucketSeconds) / 60)} min (since the read model started, at most 15 min); peak ${fmtInt(max)} per ${t.bucketSeconds} s.`
    : "No samples yet.";
}

function renderAlerts() {
  const active = state.alerts.active || [];
  $("stat-alerts").textContent = fmtInt(active.length);
  const list = $("alerts-list");
  if (!active.length) {
    list.replaceChildren(h("li", { class: "none" }, "No active alerts ✓"));
    return;
  }
  list.replaceChildren(
    ...active.map((alert) =>
      h(
        "li",
        {},
        h("div", { class: "row" }, h("strong", {}, alert.name), h("span", { class: `status sev-${alert.severity}` }, alert.severity)),
        h("span", { class: "small" }, alert.annotations?.summary || alert.annotations?.description || ""),
        h("span", { class: "muted small" }, `since ${ago(alert.startsAt)}`),
      ),
    ),
  );
}

function renderJobs(freshIds = new Set()) {
  const tbody = $("jobs-table").querySelector("tbody");
  tbody.replaceChildren(
    ...state.jobs.map((job) =>
      h(
        "tr",
        { class: `clickable${freshIds.has(job.id + job.status) ? " fresh" : ""}`, "data-job-id": job.id, "data-status": job.status, tabindex: 0, onclick: () => openJob(job.id), onkeydown: (e) => e.key === "Enter" && openJob(job.id) },
        h("td", {}, statusPill(job.status), job.status === "FAILED" ? retry.retryButton(job.id, "row-retry") : null),
        h("td", {}, job.type, priorityBadge(job) ? [" ", priorityBadge(job)] : null),
        h("td", { title: job.createdAt }, ago(job.createdAt)),
        h("td", { "data-field": "duration" }, terminal(job.status) ? jobDuration(job) : "…"),
        h("td", { class: "mono small", title: job.id }, shortId(job.id)),
      ),
    ),
  );
  $("jobs-empty").hidden = state.jobs.length > 0;
  if (!state.jobs.length && (state.page > 0 || state.filterStatus || state.filterType)) {
    $("jobs-empty").textContent = "No jobs match on this page.";
  } else {
    $("jobs-empty").textContent = "No jobs yet. Submit one with New Task.";
  }
  $("jobs-page").textContent = `page ${state.page + 1}`;
  $("jobs-prev").disabled = state.page === 0;
  $("jobs-next").disabled = state.jobs.length < PAGE_SIZE;
}

function renderEvents() {
  const tbody = $("events-table").querySelector("tbody");
  tbody.replaceChildren(
    ...state.events.slice(0, 50).map((event) => {
      const jobId = event.payload && event.payload.id;
      return h(
        "tr",
        { class: jobId ? "clickable" : "", "data-event-id": event.eventId, onclick: () => jobId && openJob(jobId) },
        h("td", { class: "mono small", title: event.eventId }, shortId(event.eventId)),
        h("td", {}, event.eventType),
        h("td", { title: event.occurredAt }, new Date(event.occurredAt).toLocaleTimeString()),
        h("td", { class: "mono small", title: jobId || "" }, shortId(jobId)),
      );
    }),
  );
}

function renderDeadLetters() {
  const count = Math.max(state.deadLetterCount, state.deadLetters.length);
  $("dl-count").textContent = String(count);
  $("dl-count").className = count ? "badge hot" : "badge";
  $("dl-requeue-all").disabled = state.deadLetters.length === 0;
  const list = $("dl-list");
  if (!state.deadLetters.length) {
    list.replaceChildren(h("li", { class: "none" }, "No dead letters: every message was processable."));
    return;
  }
  list.replaceChildren(
    ...state.deadLetters.map((dl) =>
      h(
        "li",
        { "data-dead-letter-id": dl.deadLetterId },
        h("div", { class: "row" }, h("strong", { class: "small" }, dl.queue), h("span", { class: "muted small", title: dl.occurredAt }, ago(dl.occurredAt))),
        h("span", { class: "small" }, dl.reason),
        ...(dl.errors || []).slice(0, 3).map((e) => h("code", { class: "small" }, `${e.path || "/"}: ${e.message}`)),
        h(
          "div",
          { class: "actions" },
          h("button", { type: "button", class: "dl-requeue", onclick: () => requeue(dl.deadLetterId).catch(() => {}) }, "Requeue"),
          h("button", { type: "button", class: "ghost dl-edit", onclick: () => openDeadLetterEditor(dl) }, "Edit & requeue"),
          h("button", { type: "button", class: "ghost dl-discard", onclick: () => discard(dl.deadLetterId) }, state.armedDiscards.has(dl.deadLetterId) ? "Click again to discard" : "Discard"),
        ),
      ),
    ),
  );
}

function setMode(mode) {
  state.mode = mode;
  const pill = $("connection");
  pill.textContent = { live: "Live", polling: "Polling", off: "Disconnected" }[mode];
  pill.className = `pill pill-${mode === "off" ? "off" : mode}`;
  pill.dataset.mode = mode;
}

// ---------------------------------------------------------------- data

function jobsQuery() {
  const params = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String(state.page * PAGE_SIZE) });
  if (state.filterStatus) params.set("status", state.filterStatus);
  if (state.filterType) params.set("type", state.filterType);
  return `/jobs/recent?${params}`;
}

let jobsRequest = 0;

async function loadJobs() {
  // Filters and pages change faster than answers come: only the newest request counts.
  const mine = ++jobsRequest;
  const jobs = await getJSON(jobsQuery());
  if (mine !== jobsRequest) return;
  const before = new Map(state.jobs.map((j) => [j.id, j.status]));
  state.jobs = jobs;
  const fresh = new Set(state.jobs.filter((j) => before.size && before.get(j.id) !== j.status).map((j) => j.id + j.status));
  renderJobs(fresh);
}

async function loadDeadLetters() {
  state.deadLetters = await getJSON("/dead-letters?limit=50");
  state.deadLetterCount = state.deadLetters.length;
  renderDeadLetters();
}

async function refreshAll() {
  const [stats, throughput, alerts, events] = await Promise.all([
    getJSON("/stats"),
    getJSON("/stats/throughput"),
    getJSON("/alerts"),
    getJSON("/events?limit=50"),
  ]);
  state.stats = stats;
  state.throughput = throughput;
  state.alerts = alerts;
  state.events = events;
  renderStats();
  renderThroughput();
  renderAlerts();
  renderEvents();
  await Promise.all([loadJobs(), loadDeadLetters(), panels.refresh()]);
}

async function initialLoad() {
  splash.show(0);
  state.config = await getJSON("/config");
  await task.typeHints.load();
  splash.show(1);
  state.stats = await getJSON("/stats");
  state.throughput = await getJSON("/stats/throughput");
  splash.show(2);
  state.jobs = await getJSON(jobsQuery());
  state.events = await getJSON("/events?limit=50");
  state.deadLetters = await getJSON("/dead-letters?limit=50");
  state.deadLetterCount = state.deadLetters.length;
  splash.show(3);
  state.alerts = await getJSON("/alerts");
}

function startPolling() {
  if (state.pollTimer) return;
  const poll = async () => {
    try {
      await refreshAll();
      if (state.mode !== "live") setMode("polling");
    } catch (error) {
      if (state.mode !== "live") setMode("off");
    }
  };
  state.pollTimer = setInterval(poll, POLL_MS);
  poll();
}

function stopPolling() {
  clearInterval(state.pollTimer);
  state.pollTimer = null;
}

// The live stream is read with fetch (not EventSource) so that it carries the same
// Authorization header as every other request: no side door.
function connectStream() {
  const controller = new AbortController();
  state.stream = controller;
  const handlers = {
    ...panels.handlers,
    stats: (stats) => {
      state.stats = stats;
      renderStats();
    },
    throughput: (throughput) => {
      state.throughput = throughput;
      renderThroughput();
    },
    alerts: (alerts) => {
      state.alerts = alerts;
      renderAlerts();
    },
    jobs: (jobs) => {
      if (state.page === 0 && !state.filterStatus && !state.filterType) {
        jobsRequest += 1; // an answer still on its way is older than this
        const before = new Map(state.jobs.map((j) => [j.id, j.status]));
        state.jobs = jobs.slice(0, PAGE_SIZE);
        renderJobs(new Set(state.jobs.filter((j) => before.get(j.id) !== j.status).map((j) => j.id + j.status)));
      } else {
        loadJobs().catch(() => {});
      }
      if (state.openJobId && jobs.some((j) => j.id === state.openJobId)) openJob(state.openJobId, { keepScroll: true });
    },
    events: (events) => {
      const seen = new Set(state.events.map((e) => e.eventId));
      const fresh = events.filter((e) => !seen.has(e.eventId)).reverse();
      state.events = [...fresh, ...state.events].slice(0, 200);
      renderEvents();
    },
    "dead-letters": ({ count }) => {
      state.deadLetterCount = count;
      if (count !== state.deadLetters.length) loadDeadLetters().catch(() => {});
      else renderDeadLetters();
    },
  };
  const dispatch = (block) => {
    let name = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) name = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
    }
    if (!data.length || !handlers[name]) return;
    try {
      handlers[name](JSON.parse(data.join("\n")));
    } catch (error) {
      console.warn(`Could not apply the stream's ${name} message`, error);
    }
  };
  const fallBack = () => {
    // The polls say whether the API answers at all (Polling) or not (Disconnected).
    if (state.mode === "live") setMode("polling");
    startPolling();
    setTimeout(() => {
      if (state.stream === controller) connectStream();
    }, STREAM_RETRY_MS);
  };
  (async () => {
    let response;
    try {
      response = await fetch("/stream", { headers: authHeaders({ Accept: "text/event-stream" }), signal: controller.signal });
    } catch (error) {
      fallBack();
      return;
    }
    if (!response.ok || !response.body) {
      if (response.status === 401) askForToken();
      fallBack();
      return;
    }
    setMode("live");
    stopPolling();
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          dispatch(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
        }
      }
    } catch (error) {
      // aborted or cut off: fall back below
    }
    fallBack();
  })();
}

// ---------------------------------------------------------------- job drawer

// The job's trace id, linked to the trace viewer of OBSERVATORY_TRACE_URL (/config
// traceUrl, "{traceId}" replaced) when it is an http(s) URL.
function traceLink(traceId) {
  const template = state.config?.traceUrl;
  if (!template || !/^https?:\/\//i.test(template)) return traceId;
  const href = template.replaceAll("{traceId}", encodeURIComponent(traceId));
  return h("a", { href, target: "_blank", rel: "noopener noreferrer" }, traceId);
}

async function openJob(jobId, { keepScroll = false } = {}) {
  state.openJobId = jobId;
  const drawer = $("drawer");
  const body = $("drawer-body");
  if (!keepScroll) body.replaceChildren(h("p", { class: "muted" }, "Loading…"));
  drawer.hidden = false;
  drawer.dataset.jobId = jobId;
  let job;
  try {
    job = await getJSON(`/jobs/${encodeURIComponent(jobId)}`);
  } catch (error) {
    if (state.openJobId !== jobId) return;
    const text = error.status === 404 ? `Job ${jobId} is not known yet: it may still be on its way to the processor.` : `Could not load job ${jobId}: ${error.message}`;
    body.replaceChildren(h("p", { class: "field-error" }, text));
    return;
  }
  if (state.openJobId !== jobId) return;
  $("drawer-title").replaceChildren(`Job ${shortId(job.id)} `, statusPill(job.status));
  const events = [...(job.events || [])].sort((a, b) => a.occurredAt.localeCompare(b.occurredAt));
  const first = events.length ? events[0].occurredAt : job.createdAt;
  body.replaceChildren(
    ...[
    h(
      "dl",
      {},
      h("dt", {}, "Id"), h("dd", { class: "mono" }, job.id),
      h("dt", {}, "Type"), h("dd", {}, job.type),
      h("dt", {}, "Status"), h("dd", {}, job.status),
      h("dt", {}, "Priority"), h("dd", { "data-field": "priority", title: PRIORITY_TITLE }, String(priorityOf(job)), priorityOf(job) === 5 ? h("span", { class: "muted small" }, " (default)") : null),
      h("dt", {}, "Attempts"), h("dd", { "data-field": "attempts" }, String(job.attempts ?? 0)),
      h("dt", {}, "Round"), h("dd", { "data-field": "round" }, String(job.round ?? 1)),
      h("dt", {}, "Created"), h("dd", {}, job.createdAt || "–"),
      h("dt", {}, "Finished"), h("dd", {}, job.finishedAt || "–"),
      h("dt", {}, "Duration"), h("dd", { "data-field": "duration" }, jobDuration(job)),
      h("dt", {}, "Correlation"), h("dd", { class: "mono small" }, job.correlationId || "–"),
      job.traceId ? [h("dt", {}, "Trace"), h("dd", { class: "mono small", "data-field": "trace" }, traceLink(job.traceId))] : null,
      job.metadata?.scheduleId ? [h("dt", {}, "Schedule"), h("dd", { "data-field": "schedule" }, fromSchedule(job.metadata))] : null,
    ),
    job.status === "FAILED" ? retry.retryButton(job.id, "drawer-retry") : null,
    h("p", { class: "muted small", id: "retry-status", role: "status" }, state.retryStatus[job.id] || ""),
    h("h3", {}, "Payload"),
    h("pre", { "data-field": "payload" }, JSON.stringify(job.payload ?? {}, null, 2)),
    job.error ? [h("h3", {}, "Error"), h("pre", { class: "field-error", "data-field": "error" }, typeof job.error === "string" ? job.error : JSON.stringify(job.error, null, 2))] : null,
    job.result !== undefined && job.result !== null ? [h("h3", {}, "Result"), h("pre", { "data-field": "result" }, JSON.stringify(job.result, null, 2))] : null,
    h("h3", {}, `Timeline (${events.length} events)`),
    h(
      "ol",
      { class: "timeline" },
      events.map((event, i) =>
        h(
          "li",
          { class: `t-${event.eventType.split(".").pop()}`, "data-event-type": event.eventType },
          h("strong", {}, event.eventType),
          " ",
          retry.retryRequest(event),
          h("span", { class: "when" }, `${event.occurredAt} · +${duration(first, event.occurredAt)}${i ? ` (${duration(events[i - 1].occurredAt, event.occurredAt)} after ${events[i - 1].eventType})` : ""}`),
          h("div", { class: "muted small mono" }, `${event.producer?.service || ""} · ${shortId(event.eventId)}`),
          event.payload?.reason === "cancelled"
            ? h("div", { class: "small", "data-field": "cancel" }, `Cancelled: requested by ${event.payload.cancelRequestedBy || "unknown"} at ${event.payload.cancelRequestedAt || "unknown time"}`)
            : null,
          event.payload?.interrupted === true
            ? h("div", { class: "small", "data-field": "interrupted" }, `Interrupted by a stop: back to the queue, attempt ${event.payload.attempt ?? "?"} not counted`)
            : null,
        ),
      ),
    ),
    ].flat().filter(Boolean),
  );
}

// A job a schedule fired: which schedule, and the occurrence (or "run now") it is for.
function fromSchedule(metadata) {
  const manual = metadata.scheduleTrigger === "manual" ? " (run now)" : "";
  return `from schedule ${metadata.scheduleName || metadata.scheduleId} at ${metadata.scheduledAt || "an unknown time"}${manual}`;
}

function closeDrawer() {
  state.openJobId = null;
  $("drawer").hidden = true;
}

// ---------------------------------------------------------------- dead letters

function dlStatus(text, isError = false) {
  const el = $("dl-status");
  el.textContent = text;
  el.className = isError ? "small field-error" : "small muted";
}

function describe(error) {
  if (!(error instanceof HttpError)) return `The gateway could not be reached: ${error.message}`;
  const details = (error.body.details || []).map((d) => `${d.path || "/"}: ${d.message}`);
  return [error.message, ...details].join("\n");
}

async function requeue(deadLetterId, body) {
  try {
    const url = gatewayUrl(`/dead-letters/${encodeURIComponent(deadLetterId)}/requeue`);
    const answer = await postJSON(url, body === undefined ? undefined : { body });
    dlStatus(`Requeued as job ${answer.jobId}.`);
    await loadDeadLetters();
    return answer;
  } catch (error) {
    dlStatus(describe(error), true);
    throw error;
  }
}

async function discard(deadLetterId) {
  // Two clicks: discarding cannot be undone. The arming outlives a redraw of the list.
  if (!state.armedDiscards.has(deadLetterId)) {
    state.armedDiscards.add(deadLetterId);
    renderDeadLetters();
    setTimeout(() => {
      state.armedDiscards.delete(deadLetterId);
      renderDeadLetters();
    }, 4000);
    return;
  }
  state.armedDiscards.delete(deadLetterId);
  try {
    await deleteJSON(gatewayUrl(`/dead-letters/${encodeURIComponent(deadLetterId)}`));
    dlStatus(`Discarded dead letter ${shortId(deadLetterId)}.`);
    await loadDeadLetters();
  } catch (error) {
    dlStatus(describe(error), true);
  }
}

async function requeueAll() {
  try {
    const answer = await postJSON(gatewayUrl("/dead-letters/requeue"), { ids: state.deadLetters.map((d) => d.deadLetterId) });
    const refused = answer.results.filter((r) => r.status !== 202);
    dlStatus(
      `Requeued ${answer.requeued}; ${answer.refused} refused` + (refused.length ? ` (first: ${refused[0].error})` : "") + ".",
      answer.refused > 0,
    );
    await loadDeadLetters();
  } catch (error) {
    dlStatus(describe(error), true);
  }
}

function openDeadLetterEditor(deadLetter) {
  state.editingDeadLetter = deadLetter;
  $("dl-reason").textContent = deadLetter.reason;
  let text = deadLetter.originalBody;
  if (deadLetter.originalBodyEncoding === "utf-8") {
    try {
      text = JSON.stringify(JSON.parse(text), null, 2);
    } catch (error) {
      // Not JSON: edit it as it is.
    }
  }
  $("dl-body").value = text;
  $("dl-error").textContent = "";
  $("dl-modal").hidden = false;
  $("dl-body").focus();
}

async function submitDeadLetterEdit(event) {
  event.preventDefault();
  const deadLetter = state.editingDeadLetter;
  if (!deadLetter) return;
  $("dl-submit").disabled = true;
  try {
    await requeue(deadLetter.deadLetterId, $("dl-body").value);
    $("dl-modal").hidden = true;
  } catch (error) {
    $("dl-error").textContent = describe(error);
  } finally {
    $("dl-submit").disabled = false;
  }
}

// ---------------------------------------------------------------- wiring

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  try {
    localStorage.setItem("observatory-theme", theme);
  } catch (error) {
    // Storage may be off; the theme still applies to this page.
  }
}

function wire() {
  const stored = (() => {
    try {
      return localStorage.getItem("observatory-theme");
    } catch (error) {
      return null;
    }
  })();
  applyTheme(stored || (window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light"));
  $("theme-toggle").onclick = () => applyTheme(document.documentElement.dataset.theme === "dark" ? "light" : "dark");
  task.wire();
  $("drawer-close").onclick = closeDrawer;
  $("dl-close").onclick = () => ($("dl-modal").hidden = true);
  $("dl-cancel").onclick = () => ($("dl-modal").hidden = true);
  $("dl-form").addEventListener("submit", submitDeadLetterEdit);
  $("dl-requeue-all").onclick = requeueAll;
  $("token-form").addEventListener("submit", saveToken);
  $("token-open").onclick = () => askForToken();
  $("jobs-prev").onclick = () => {
    state.page = Math.max(0, state.page - 1);
    loadJobs().catch(() => {});
  };
  $("jobs-next").onclick = () => {
    state.page += 1;
    loadJobs().catch(() => {});
  };
  $("filter-status").onchange = (e) => {
    state.filterStatus = e.target.value;
    state.page = 0;
    loadJobs().catch(() => {});
  };
  $("filter-type").onchange = (e) => {
    state.filterType = e.target.value;
    state.page = 0;
    loadJobs().catch(() => {});
  };
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape") return;
    if (task.isOpen()) task.close();
    else if (!$("dl-modal").hidden) $("dl-modal").hidden = true;
    else if (!$("drawer").hidden) closeDrawer();
  });
}

function applyConfig() {
  const config = state.config;
  $("version").textContent = `v${config.version}`;
  $("footer-version").textContent = `v${config.version}`;
  $("gateway-docs").href = gatewayUrl("/docs");
  const types = [...new Set([...config.jobTypes, ...task.typeHints.names()])].sort();
  $("job-types").replaceChildren(...types.map((t) => h("option", { value: t })));
}

async function boot() {
  try {
    await initialLoad();
  } catch (error) {
    if (error instanceof HttpError && error.status === 401) {
      $("splash-message").textContent = "Waiting for an API token";
      await tokenGiven();
      boot();
      return;
    }
    splash.fail(error, () => {
      $("splash-error").hidden = true;
      splash.start();
      boot();
    });
    return;
  }
  applyConfig();
  renderStats();
  renderThroughput();
  renderAlerts();
  renderJobs();
  renderEvents();
  renderDeadLetters();
  splash.hide();
  jobsView.route();
  followTopbar(document.querySelector(".topbar"));
  document.body.dataset.ready = "true";
  connectStream();
  schedules.start();
}

wire();
splash.start();
boot();
