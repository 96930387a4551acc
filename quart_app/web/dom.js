// The page's element builder and how it formats numbers, times and job fields: shared by
// app.js and the pages and panels beside it (jobs_page.js, workers_panel.js).

/** An element with attributes and children; text is always set as text, never HTML. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export const fmtInt = (n) => (typeof n === "number" ? n.toLocaleString("en-US") : "–");

export function ago(iso) {
  if (!iso) return "–";
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 60) return `${Math.round(seconds)} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return new Date(iso).toLocaleString();
}

export function duration(fromIso, toIso) {
  if (!fromIso || !toIso) return "–";
  return formatMs(Date.parse(toIso) - Date.parse(fromIso));
}

// A job's duration is the read model's (durationMs: every attempt counted), not the
// last attempt's startedAt to finishedAt, so the page, the API and the TUI agree.
export const jobDuration = (job) => (typeof job.durationMs === "number" ? formatMs(job.durationMs) : "–");

export function formatMs(ms) {
  if (!Number.isFinite(ms) || ms < 0) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}

// A job's priority, 0 to 9: of the waiting jobs the higher start first; 5 for a job
// submitted without one (and for every job of a read model that predates priorities).
export const DEFAULT_PRIORITY = 5;
export const priorityOf = (job) => (Number.isInteger(job.priority) ? job.priority : DEFAULT_PRIORITY);
export const PRIORITY_TITLE = "Priority, 0 to 9: of the waiting jobs the higher start first (5 when none was given).";

/** A badge for a job whose priority is not the default 5 (null otherwise). */
export function priorityBadge(job) {
  const priority = priorityOf(job);
  if (priority === DEFAULT_PRIORITY) return null;
  return h("span", { class: `badge prio${priority > DEFAULT_PRIORITY ? " hot" : ""}`, "data-field": "priority", title: PRIORITY_TITLE }, `P${priority}`);
}

export const shortId = (id) => (id ? String(id).slice(0, 8) : "–");
export const statusPill = (status) => h("span", { class: `status status-${status}` }, status);
export const terminal = (status) => status === "COMPLETED" || status === "FAILED";
