// The Jobs page (#jobs): every job, searched through the read model's GET /jobs with
// its filters, a page at a time as the table's end scrolls into view (the answer's
// nextCursor), and three bulk actions on the same filter through the gateway, each
// confirmed with the count a dry run answers. The filter lives in the address
// (#jobs?status=FAILED&type=echo&...), so a reload or a shared link shows the same list.
// app.js hands over what it shares: its HTTP helpers, its state and how to open a job.

import { ago, fmtInt, h, PRIORITY_TITLE, priorityOf, shortId, statusPill } from "./dom.js";
import { gatewayAbility } from "./gateway_ability.js";

const PAGE_SIZE = 50;
const WAITING = ["PENDING", "VALIDATED"];
const TEXT_FILTERS = { correlationId: "search-correlation", error: "search-error" };
const TIME_FILTERS = { createdAfter: "search-created-after", createdBefore: "search-created-before" };
// The priority filter: the bulk actions on jobs take it as a number (see jobFilter).
const SEARCH_ONLY_FILTERS = { priority: "search-priority" };
// Every filter given as one value in the address, the search and the form.
const VALUE_FILTERS = { ...TEXT_FILTERS, ...TIME_FILTERS, ...SEARCH_ONLY_FILTERS };

const $ = (id) => document.getElementById(id);

/** The filter in the address (#jobs?...), or null when another page is shown. */
export function filterFromHash(hash = window.location.hash) {
  const match = /^#jobs(?:\?(.*))?$/.exec(hash);
  if (!match) return null;
  const params = new URLSearchParams(match[1] || "");
  const filter = { status: params.getAll("status"), type: params.getAll("type") };
  for (const name of Object.keys(VALUE_FILTERS)) {
    if (params.get(name)) filter[name] = params.get(name);
  }
  return filter;
}

function hashOf(filter) {
  const params = new URLSearchParams();
  for (const status of filter.status) params.append("status", status);
  for (const type of filter.type) params.append("type", type);
  for (const name of Object.keys(VALUE_FILTERS)) {
    if (filter[name]) params.set(name, filter[name]);
  }
  const query = params.toString();
  return query ? `#jobs?${query}` : "#jobs";
}

// <input type="datetime-local"> speaks local wall-clock time; the API speaks RFC 3339.
function localInput(iso) {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return "";
  const local = new Date(at.getTime() - at.getTimezoneOffset() * 60000);
  return local.toISOString().slice(0, 16);
}

function isoOf(local) {
  const at = new Date(local);
  return Number.isNaN(at.getTime()) ? "" : at.toISOString();
}

const plural = (n, noun) => `${fmtInt(n)} ${noun}${n === 1 ? "" : "s"}`;

function describeFilter(filter) {
  const parts = [];
  if (filter.status.length) parts.push(`status ${filter.status.join(" or ")}`);
  if (filter.type.length) parts.push(`type ${filter.type.join(" or ")}`);
  if (filter.priority) parts.push(`priority ${filter.priority}`);
  if (filter.createdAfter) parts.push(`created at or after ${filter.createdAfter}`);
  if (filter.createdBefore) parts.push(`created before ${filter.createdBefore}`);
  if (filter.correlationId) parts.push(`correlation id ${filter.correlationId}`);
  if (filter.error) parts.push(`error containing "${filter.error}"`);
  return parts.length ? parts.join(", ") : "no filter";
}

export function jobsPage({ getJSON, postJSON, gatewayUrl, describe, openJob, state }) {
  const page = {
    filter: { status: [], type: [] },
    items: [],
    seen: new Set(),
    cursor: null,
    done: false,
    loading: false,
    generation: 0,
    ability: { ok: false, why: "Checking whether the gateway answers…" },
  };

  // ------------------------------------------------------------ search

  function searchUrl() {
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
    for (const status of page.filter.status) params.append("status", status);
    for (const type of page.filter.type) params.append("type", type);
    for (const name of Object.keys(VALUE_FILTERS)) {
      if (page.filter[name]) params.set(name, page.filter[name]);
    }
    if (page.cursor) params.set("cursor", page.cursor);
    return `/jobs?${params}`;
  }

  function row(job) {
    return h(
      "tr",
      { class: "clickable", "data-job-id": job.id, "data-status": job.status, tabindex: 0, onclick: () => openJob(job.id), onkeydown: (e) => e.key === "Enter" && openJob(job.id) },
      h("td", {}, statusPill(job.status)),
      h("td", {}, job.type),
      h("td", { class: `num${priorityOf(job) === 5 ? " muted" : ""}`, "data-field": "priority", title: PRIORITY_TITLE }, String(priorityOf(job))),
      h("td", { title: job.createdAt }, ago(job.createdAt)),
      h("td", { title: job.finishedAt || "" }, job.finishedAt ? ago(job.finishedAt) : "–"),
      h("td", { class: "num" }, String(job.attempts ?? 0)),
      h("td", { class: "mono small", title: job.correlationId || "" }, shortId(job.correlationId)),
      h("td", { class: "small error-cell", title: job.error || "" }, job.error || ""),
      h("td", { class: "mono small", title: job.id }, shortId(job.id)),
    );
  }

  function renderFoot(text, cls = "muted small") {
    const foot = $("search-foot");
    foot.textContent = text;
    foot.className = `search-foot ${cls}`;
    foot.dataset.state = page.loading ? "loading" : page.done ? "end" : "more";
  }

  async function loadMore() {
    if (page.loading || page.done) return;
    const mine = page.generation;
    page.loading = true;
    renderFoot("loading…");
    let answer;
    try {
      answer = await getJSON(searchUrl());
    } catch (error) {
      if (mine !== page.generation) return;
      page.loading = false;
      page.done = true;
      $("search-problem").textContent = describe(error).replace(/^The gateway could not be reached/, "The read model could not be reached");
      renderFoot("");
      return;
    }
    if (mine !== page.generation) return; // the filter changed meanwhile: a new search runs
    page.loading = false;
    $("search-problem").textContent = "";
    // A job never shows twice, even if it moved between pages meanwhile.
    const fresh = answer.items.filter((job) => !page.seen.has(job.id));
    fresh.forEach((job) => page.seen.add(job.id));
    page.items.push(...fresh);
    $("search-table").querySelector("tbody").append(...fresh.map(row));
    page.cursor = answer.nextCursor;
    page.done = !answer.nextCursor;
    $("search-count").textContent = `${fmtInt(page.items.length)} shown`;
    renderFoot(page.done ? (page.items.length ? "end of results" : "No job matches this filter.") : "");
    // The foot may still be in view (a short page): IntersectionObserver fires only on a
    // change, so ask for the next page here.
    if (!page.done && footInView()) loadMore();
  }

  function footInView() {
    const rect = $("search-foot").getBoundingClientRect();
    return rect.top < window.innerHeight && rect.bottom >= 0 && !$("search-page").hidden;
  }

  function restart() {
    page.generation += 1;
    page.items = [];
    page.seen = new Set();
    page.cursor = null;
    page.done = false;
    page.loading = false;
    $("search-table").querySelector("tbody").replaceChildren();
    $("search-count").textContent = "";
    $("search-summary").textContent = describeFilter(page.filter);
    renderBulk();
    loadMore();
  }

  // ------------------------------------------------------------ filter form

  function typeOptions() {
    const types = new Set([...(state.config?.jobTypes || []), ...Object.keys(state.stats?.byType || {}), ...page.filter.type]);
    const select = $("search-type");
    const known = new Set([...select.options].map((o) => o.value));
    for (const type of [...types].sort()) {
      if (!known.has(type)) select.append(h("option", { value: type }, type));
    }
  }

  function showFilter() {
    typeOptions();
    for (const box of document.querySelectorAll("#search-statuses input")) box.checked = page.filter.status.includes(box.value);
    for (const option of $("search-type").options) option.selected = page.filter.type.includes(option.value);
    for (const [name, id] of Object.entries({ ...TEXT_FILTERS, ...SEARCH_ONLY_FILTERS })) $(id).value = page.filter[name] || "";
    for (const [name, id] of Object.entries(TIME_FILTERS)) $(id).value = page.filter[name] ? localInput(page.filter[name]) : "";
  }

  function readForm() {
    const filter = {
      status: [...document.querySelectorAll("#search-statuses input:checked")].map((box) => box.value),
      type: [...$("search-type").selectedOptions].map((o) => o.value),
    };
    for (const [name, id] of Object.entries({ ...TEXT_FILTERS, ...SEARCH_ONLY_FILTERS })) if ($(id).value.trim()) filter[name] = $(id).value.trim();
    for (const [name, id] of Object.entries(TIME_FILTERS)) if ($(id).value) filter[name] = isoOf($(id).value);
    return filter;
  }

  function applyForm(event) {
    if (event) event.preventDefault();
    const hash = hashOf(readForm());
    if (window.location.hash !== hash) window.location.hash = hash; // route() searches
    else route();
  }

  function route() {
    const filter = filterFromHash();
    const onJobs = filter !== null;
    const arriving = onJobs && $("search-page").hidden;
    $("search-page").hidden = !onJobs;
    $("dashboard-page").hidden = onJobs;
    for (const link of document.querySelectorAll(".nav a")) link.classList.toggle("active", link.dataset.page === (onJobs ? "jobs" : "dashboard"));
    if (!onJobs) return;
    page.filter = filter;
    showFilter();
    if (arriving) checkAbility();
    restart();
  }

  // ------------------------------------------------------------ bulk actions

  const ACTIONS = {
    cancel: {
      button: "bulk-cancel",
      path: "/jobs/cancel",
      verb: "cancel",
      noun: "waiting jobs (PENDING or VALIDATED)",
      one: "waiting job (PENDING or VALIDATED)",
      body(filter) {
        const status = filter.status.length ? filter.status.filter((s) => WAITING.includes(s)) : WAITING;
        if (!status.length) return { why: "The status filter names no waiting status (PENDING, VALIDATED)." };
        return { body: { ...jobFilter(filter), status } };
      },
      done: (answer) => `Cancel requested for ${plural(answer.actedOn, "job")}${answer.skipped ? ` (${fmtInt(answer.skipped)} had moved on)` : ""}.`,
    },
    retry: {
      button: "bulk-retry",
      path: "/jobs/retry",
      verb: "retry",
      noun: "failed jobs",
      one: "failed job",
      body(filter) {
        if (filter.status.length && !filter.status.includes("FAILED")) return { why: "The status filter leaves out FAILED." };
        return { body: { ...jobFilter(filter), status: "FAILED" } };
      },
      done: (answer) => `Retried ${plural(answer.actedOn, "job")}${answer.skipped ? ` (${fmtInt(answer.skipped)} skipped: at their last round)` : ""}.`,
    },
    requeue: {
      button: "bulk-requeue",
      path: "/dead-letters/requeue",
      verb: "requeue",
      noun: "dead letters",
      one: "dead letter",
      note: "Dead letters are messages that never became jobs: they have no status, type or correlation id, so only the time range (when dead-lettered) and the error text (in the reason) apply.",
      body(filter) {
        const body = {};
        if (filter.createdAfter) body.occurredAfter = filter.createdAfter;
        if (filter.createdBefore) body.occurredBefore = filter.createdBefore;
        if (filter.error) body.reason = filter.error;
        return { body };
      },
      done(answer) {
        const refused = (answer.results || []).filter((r) => r.status !== 202);
        const why = refused.length ? ` (first: ${refused[0].error})` : "";
        return `Requeued ${plural(answer.requeued, "dead letter")}${answer.refused ? `; ${fmtInt(answer.refused)} refused${why}` : ""}.`;
      },
    },
  };

  function jobFilter(filter) {
    const body = {};
    if (filter.type.length) body.type = filter.type;
    for (const name of [...Object.keys(TEXT_FILTERS), ...Object.keys(TIME_FILTERS)]) if (filter[name]) body[name] = filter[name];
    if (filter.priority) body.priority = Number(filter.priority);
    return body;
  }

  function renderBulk() {
    const reasons = [];
    for (const action of Object.values(ACTIONS)) {
      const button = $(action.button);
      const why = page.ability.ok ? action.body(page.filter).why : page.ability.why;
      button.disabled = Boolean(why);
      button.title = why || `Asks how many ${action.noun} match, then asks you to confirm.`;
      if (why) reasons.push(`${button.textContent}: ${why}`);
    }
    $("bulk-why").textContent = page.ability.ok ? reasons.join(" ") : page.ability.why;
  }

  async function checkAbility() {
    page.ability = await gatewayAbility({ getJSON, gatewayUrl, state }, "act on jobs");
    renderBulk();
  }

  function closeDialog() {
    $("bulk-modal").hidden = true;
    page.dialog = null;
  }

  async function openDialog(name) {
    const action = ACTIONS[name];
    const { body, why } = action.body(page.filter);
    if (why) return;
    const dialog = { name, body, generation: page.generation };
    page.dialog = dialog;
    $("bulk-title").textContent = `${$(action.button).textContent}?`;
    $("bulk-filter").textContent = `Filter: ${describeFilter(page.filter)}.`;
    $("bulk-note").textContent = action.note || "";
    $("bulk-question").textContent = `Counting the ${action.noun} matching…`;
    $("bulk-question").dataset.count = "";
    $("bulk-answer").textContent = "";
    $("bulk-confirm").hidden = false;
    $("bulk-confirm").disabled = true;
    $("bulk-dismiss").textContent = "Cancel";
    $("bulk-modal").hidden = false;
    $("bulk-dismiss").focus();
    let count;
    try {
      count = await postJSON(gatewayUrl(action.path), { ...body, dryRun: true });
    } catch (error) {
      if (page.dialog !== dialog) return;
      $("bulk-question").textContent = "";
      $("bulk-answer").textContent = `Could not count them: ${describe(error)}`;
      $("bulk-answer").className = "field-error";
      return;
    }
    if (page.dialog !== dialog) return;
    $("bulk-question").dataset.count = String(count.matched);
    if (!count.matched) {
      $("bulk-question").textContent = `No ${action.noun} match: nothing to ${action.verb}.`;
      return;
    }
    const more = count.more ? ` (more match: only the first ${fmtInt(count.matched)} are taken)` : "";
    const noun = count.matched === 1 ? action.one : action.noun;
    $("bulk-question").textContent = `This will ${action.verb} ${fmtInt(count.matched)} ${noun}${more}.`;
    $("bulk-confirm").textContent = `${action.verb[0].toUpperCase()}${action.verb.slice(1)} ${fmtInt(count.matched)}`;
    $("bulk-confirm").disabled = false;
    $("bulk-confirm").focus();
  }

  async function confirmDialog() {
    const dialog = page.dialog;
    if (!dialog) return;
    const action = ACTIONS[dialog.name];
    $("bulk-confirm").disabled = true;
    let text;
    let failed = false;
    try {
      text = action.done(await postJSON(gatewayUrl(action.path), dialog.body));
    } catch (error) {
      text = describe(error);
      failed = true;
    }
    if (page.dialog !== dialog) return;
    $("bulk-answer").textContent = text;
    $("bulk-answer").className = failed ? "field-error" : "bulk-done";
    $("bulk-confirm").hidden = true;
    $("bulk-dismiss").textContent = "Close";
    $("bulk-status").textContent = text;
    $("bulk-status").className = failed ? "small field-error" : "small muted";
    if (!failed) restart();
  }

  // ------------------------------------------------------------ wiring

  $("search-form").addEventListener("submit", applyForm);
  $("search-form").addEventListener("change", (e) => {
    // Text fields search on Enter (submit); lists, boxes and times as soon as they change.
    if (e.target.type !== "text") applyForm();
  });
  $("search-clear").onclick = () => {
    window.location.hash = "#jobs";
  };
  for (const [name, action] of Object.entries(ACTIONS)) $(action.button).onclick = () => openDialog(name);
  $("bulk-confirm").onclick = () => confirmDialog();
  $("bulk-dismiss").onclick = closeDialog;
  $("bulk-close").onclick = closeDialog;
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !$("bulk-modal").hidden) {
      e.stopImmediatePropagation();
      closeDialog();
    }
  }, true);
  new IntersectionObserver((entries) => {
    if (entries.some((entry) => entry.isIntersecting) && !$("search-page").hidden) loadMore();
  }).observe($("search-foot"));
  window.addEventListener("hashchange", route);
  // A new token may bring another role: ask again once app.js has kept it.
  $("token-form").addEventListener("submit", () => setTimeout(() => !$("search-page").hidden && checkAbility(), 0));

  return {
    route,
    /** New job types seen (stats): offer them in the type list. */
    refreshTypes: typeOptions,
  };
}
