// The Schedules panel of the dashboard: every recurring schedule (the read model's
// GET /schedules, asked again every REFRESH_MS) with when it runs, its job type, whether
// it is paused, its next run (how far off and when) and last run, and how often it fired
// and missed. Its Pause/Resume and Run now buttons go to the gateway (PATCH
// /schedules/{id} with "enabled", POST /schedules/{id}/run); they are off, saying why,
// for a viewer token or a gateway that does not answer, as the Jobs page's bulk buttons.

import { ago, fmtInt, h, shortId } from "./dom.js";
import { gatewayAbility } from "./gateway_ability.js";

const REFRESH_MS = 3000;

const $ = (id) => document.getElementById(id);

/** "in 12 s", "in 5 min", "in 3 h", or the date further off; "–" without a time. */
export function until(iso) {
  if (!iso) return "–";
  const seconds = (Date.parse(iso) - Date.now()) / 1000;
  if (seconds <= 0) return "due now";
  if (seconds < 60) return `in ${Math.round(seconds)} s`;
  if (seconds < 3600) return `in ${Math.round(seconds / 60)} min`;
  if (seconds < 86400) return `in ${Math.round(seconds / 3600)} h`;
  return new Date(iso).toLocaleString();
}

const when = (schedule) => (schedule.cron ? `cron ${schedule.cron}` : `every ${schedule.interval}`);
const clock = (iso) => new Date(iso).toLocaleString();

export function schedulesPanel({ getJSON, postJSON, patchJSON, gatewayUrl, describe, openJob, state }) {
  const panel = {
    schedules: [],
    ability: { ok: false, why: "Checking whether the gateway answers…" },
    busy: new Set(),
    timer: null,
  };

  function say(text, failed = false) {
    const line = $("schedules-status");
    line.replaceChildren(...[text].flat());
    line.className = failed ? "small field-error" : "small muted";
  }

  function button(schedule, label, action, field) {
    const why = panel.ability.ok ? (panel.busy.has(schedule.id) ? "Waiting for the gateway's answer…" : "") : panel.ability.why;
    return h("button", { type: "button", class: "ghost small", "data-action": field, disabled: Boolean(why), title: why || undefined, onclick: () => action(schedule) }, label);
  }

  function row(schedule) {
    const next = schedule.enabled ? schedule.nextRunAt : null;
    return h(
      "tr",
      { "data-schedule-id": schedule.id, "data-enabled": String(schedule.enabled), class: schedule.enabled ? "" : "gone" },
      h("td", { title: schedule.id }, schedule.name),
      h("td", { class: "mono small", title: `catch-up: ${schedule.catchUp}` }, when(schedule), h("span", { class: "muted" }, ` · ${schedule.timezone}`)),
      h("td", {}, schedule.job?.type || "–"),
      h("td", { "data-field": "state" }, h("span", { class: `status ${schedule.enabled ? "schedule-enabled" : "schedule-paused"}` }, schedule.enabled ? "enabled" : "paused")),
      h(
        "td",
        { "data-field": "next", "data-at": next || "", title: next || "" },
        next ? [until(next), h("span", { class: "muted small" }, ` · ${clock(next)}`)] : schedule.enabled ? "–" : "paused",
      ),
      h("td", { "data-field": "last", title: schedule.lastRunAt || "" }, ago(schedule.lastRunAt)),
      h("td", { class: "num", "data-field": "fires" }, fmtInt(schedule.fires)),
      h("td", { class: "num", "data-field": "misses" }, fmtInt(schedule.misses)),
      h(
        "td",
        { class: "row-actions" },
        button(schedule, schedule.enabled ? "Pause" : "Resume", toggle, "toggle"),
        " ",
        button(schedule, "Run now", runNow, "run"),
      ),
    );
  }

  function render() {
    const paused = panel.schedules.filter((s) => !s.enabled).length;
    $("schedules-count").textContent = panel.schedules.length ? `${fmtInt(panel.schedules.length)}${paused ? `, ${fmtInt(paused)} paused` : ""}` : "";
    $("schedules-empty").hidden = panel.schedules.length > 0;
    $("schedules-why").textContent = panel.ability.ok ? "" : panel.ability.why;
    $("schedules-table").querySelector("tbody").replaceChildren(...panel.schedules.map(row));
  }

  async function refresh() {
    let body;
    try {
      body = await getJSON("/schedules");
    } catch (error) {
      $("schedules-note").textContent = `Schedules unknown: ${error.message}`;
      return;
    }
    $("schedules-note").textContent = "";
    panel.schedules = body.schedules || [];
    render();
  }

  async function act(schedule, request, done) {
    panel.busy.add(schedule.id);
    render();
    try {
      say(done(await request()));
    } catch (error) {
      say(`${schedule.name}: ${describe(error)}`, true);
    } finally {
      panel.busy.delete(schedule.id);
    }
    await refresh();
  }

  function toggle(schedule) {
    const path = gatewayUrl(`/schedules/${encodeURIComponent(schedule.id)}`);
    return act(schedule, () => patchJSON(path, { enabled: !schedule.enabled }), (changed) => `${schedule.name}: ${changed.enabled ? "resumed" : "paused"}.`);
  }

  function runNow(schedule) {
    const path = gatewayUrl(`/schedules/${encodeURIComponent(schedule.id)}/run`);
    return act(schedule, () => postJSON(path), (answer) => [
      `${schedule.name}: ran now, job `,
      h("button", { type: "button", class: "link mono", "data-job-id": answer.jobId, onclick: () => openJob(answer.jobId) }, shortId(answer.jobId)),
      ".",
    ]);
  }

  async function checkAbility() {
    panel.ability = await gatewayAbility({ getJSON, gatewayUrl, state }, "pause, resume or run schedules");
    render();
  }

  return {
    /** Once the page has its configuration: ask now, then every REFRESH_MS. */
    start() {
      checkAbility();
      refresh();
      panel.timer = setInterval(refresh, REFRESH_MS);
      // A new token may bring another role: ask again once app.js has kept it.
      $("token-form").addEventListener("submit", () => setTimeout(checkAbility, 0));
    },
  };
}
