// The "New task" dialog of the dashboard: the form (type, JSON payload, how many), its
// checks as one types, the payload hints of the known task types, and the submission to
// the gateway (POST /jobs for one, /jobs/batch for more), with the gateway's own errors
// shown at their fields. app.js hands over its element helpers, its HTTP helpers and how
// to open a job.

import { createTypeHints } from "./task_types.js";

export function taskForm({ $, h, getJSON, postJSON, gatewayUrl, openJob, HttpError }) {
  function showFieldErrors(details) {
    const targets = { type: "task-type-error", payload: "task-payload-error", count: "task-count-error" };
    for (const detail of details) {
      const field = (detail.path || "").split("/")[1] || "";
      const target = targets[field] || "task-error";
      const el = $(target);
      el.textContent = el.textContent ? `${el.textContent}\n${detail.path}: ${detail.message}` : `${detail.path || "/"}: ${detail.message}`;
      if (targets[field]) $(`task-${field}`).classList.add("invalid");
    }
  }

  function clearTaskErrors() {
    for (const id of ["task-type-error", "task-payload-error", "task-count-error", "task-error"]) $(id).textContent = "";
    for (const id of ["task-type", "task-payload", "task-count"]) $(id).classList.remove("invalid");
  }

  function parsePayload() {
    const text = $("task-payload").value.trim();
    if (!text) return { ok: true, value: undefined };
    try {
      const value = JSON.parse(text);
      if (value === null || typeof value !== "object" || Array.isArray(value)) return { ok: false, error: "The payload must be a JSON object, like {\"n\": 1}." };
      return { ok: true, value };
    } catch (error) {
      return { ok: false, error: `Not valid JSON: ${error.message}` };
    }
  }

  function validateTaskForm() {
    clearTaskErrors();
    let valid = true;
    const type = $("task-type").value.trim();
    if (!/^[A-Za-z0-9_-]{1,50}$/.test(type)) {
      $("task-type-error").textContent = "1 to 50 letters, digits, '_' or '-'.";
      $("task-type").classList.add("invalid");
      valid = false;
    }
    const payload = parsePayload();
    if (!payload.ok) {
      $("task-payload-error").textContent = payload.error;
      $("task-payload").classList.add("invalid");
      valid = false;
    }
    const count = Number($("task-count").value);
    if (!Number.isInteger(count) || count < 1 || count > 1000) {
      $("task-count-error").textContent = "A whole number from 1 to 1000.";
      $("task-count").classList.add("invalid");
      valid = false;
    }
    $("task-submit").disabled = !valid;
    return valid ? { type, payload: payload.value, count } : null;
  }

  const typeHints = createTypeHints({
    h,
    byId: $,
    getJSON,
    fill: (text) => {
      $("task-payload").value = text;
      validateTaskForm();
    },
  });

  function openTaskModal() {
    $("task-result").replaceChildren();
    $("task-modal").hidden = false;
    validateTaskForm();
    typeHints.render($("task-type").value.trim());
    $("task-type").focus();
  }

  function closeTaskModal() {
    $("task-modal").hidden = true;
  }

  async   function submitTask(event) {
    event.preventDefault();
    const form = validateTaskForm();
    if (!form) return;
    const job = { type: form.type };
    if (form.payload !== undefined) job.payload = form.payload;
    $("task-submit").disabled = true;
    $("task-result").replaceChildren();
    try {
      let ids;
      if (form.count === 1) {
        ids = [(await postJSON(gatewayUrl("/jobs"), job)).jobId];
      } else {
        const answer = await postJSON(gatewayUrl("/jobs/batch"), Array.from({ length: form.count }, () => ({ ...job })));
        ids = answer.results.filter((r) => r.jobId).map((r) => r.jobId);
      }
      const link = (id) => h("a", { href: `#job-${id}`, class: "mono accepted-id", "data-job-id": id, onclick: (e) => { e.preventDefault(); closeTaskModal(); openJob(id); } }, id);
      $("task-result").replaceChildren(
        h("strong", {}, ids.length === 1 ? "Accepted: " : `Accepted ${ids.length} jobs; first: `),
        link(ids[0]),
      );
    } catch (error) {
      if (error instanceof HttpError) {
        $("task-error").textContent = error.message;
        const details = error.body.details || (error.body.results || []).flatMap((r) => r.details || []);
        showFieldErrors(details);
      } else {
        $("task-error").textContent = `The gateway at ${gatewayUrl("")} could not be reached: ${error.message}`;
      }
    } finally {
      $("task-submit").disabled = false;
    }
  }

  function wire() {
    $("new-task-open").onclick = openTaskModal;
    $("task-close").onclick = closeTaskModal;
    $("task-cancel").onclick = closeTaskModal;
    $("task-form").addEventListener("submit", submitTask);
    for (const id of ["task-type", "task-payload", "task-count"]) $(id).addEventListener("input", validateTaskForm);
    $("task-type").addEventListener("input", () => typeHints.render($("task-type").value.trim()));
  }

  return {
    typeHints,
    wire,
    close: closeTaskModal,
    isOpen: () => !$("task-modal").hidden,
  };
}
