// The Workers and Queues panels of the dashboard. The live stream sends `workers` (the
// body of GET /workers) and `queues` (the body of GET /queues) every few seconds; while
// the page polls instead, they are fetched with the other panels. Each queue keeps its
// last SPARK_SAMPLES depths here, in the page, for a small inline-SVG sparkline.

import { ago, fmtInt, h } from "./dom.js";

const SPARK_SAMPLES = 40;
const SVG = "http://www.w3.org/2000/svg";

const $ = (id) => document.getElementById(id);

/** A rate per second, or "—" where the broker does not say (null). */
export function rate(value) {
  if (typeof value !== "number") return "—";
  const digits = Math.abs(value) >= 10 ? 0 : Math.abs(value) >= 1 ? 1 : 2;
  return value.toFixed(digits);
}

function sparkline(depths) {
  const width = 120;
  const height = 24;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", String(width));
  svg.setAttribute("height", String(height));
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `depth over the last ${depths.length} samples: ${depths.join(", ")}`);
  svg.dataset.samples = String(depths.length);
  const max = Math.max(1, ...depths);
  const step = width / Math.max(1, SPARK_SAMPLES - 1);
  const offset = SPARK_SAMPLES - depths.length;
  const points = depths.map((depth, i) => `${((offset + i) * step).toFixed(1)},${(height - 2 - (depth / max) * (height - 4)).toFixed(1)}`);
  if (points.length === 1) points.unshift(points[0].replace(/^[^,]+/, ((offset - 1) * step).toFixed(1)));
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("points", points.join(" "));
  svg.append(line);
  return svg;
}

export function workerPanels({ getJSON }) {
  const depths = new Map();

  function renderWorkers(body) {
    const workers = body.workers || [];
    $("workers-count").textContent = `${fmtInt(body.alive)} alive${body.gone ? `, ${fmtInt(body.gone)} gone` : ""}`;
    $("workers-empty").hidden = workers.length > 0;
    $("workers-table").querySelector("tbody").replaceChildren(
      ...workers.map((w) =>
        h(
          "tr",
          { "data-worker-id": w.id, "data-status": w.status, class: w.status === "alive" ? "" : "gone" },
          h("td", { class: "mono small", title: `${w.service} ${w.id} (pid ${w.pid}, v${w.version})` }, w.id),
          h("td", {}, w.host),
          h("td", { class: "small", title: (w.handlerTypes || []).join(", ") }, (w.handlerTypes || []).join(", ") || "–"),
          h("td", { class: "num", "data-field": "in-flight", title: (w.inFlight || []).map((j) => `${j.type} ${j.jobId}`).join("\n") }, fmtInt(w.inFlightCount)),
          h("td", { class: "num", "data-field": "done" }, fmtInt(w.done)),
          h("td", { class: "num", "data-field": "failed" }, fmtInt(w.failed)),
          h(
            "td",
            { "data-field": "seen", title: w.lastSeenAt },
            h("span", { class: `status worker-${w.status}` }, w.status),
            w.status === "alive" ? "" : ` ${ago(w.lastSeenAt)}`,
          ),
        ),
      ),
    );
  }

  function renderQueues(queues) {
    for (const queue of queues) {
      const kept = depths.get(queue.name) || [];
      kept.push(queue.depth);
      depths.set(queue.name, kept.slice(-SPARK_SAMPLES));
    }
    $("queues-note").textContent = "";
    $("queues-table").querySelector("tbody").replaceChildren(
      ...queues.map((q) =>
        h(
          "tr",
          { "data-queue": q.name },
          h("td", { class: "mono small" }, q.name),
          h("td", { class: "num", "data-field": "depth", title: `${fmtInt(q.ready)} ready, ${q.unacked === null ? "unacked unknown" : `${fmtInt(q.unacked)} unacked`}${q.delayed ? `, ${fmtInt(q.delayed)} delayed` : ""}` }, fmtInt(q.depth)),
          h("td", { class: "spark-cell" }, sparkline(depths.get(q.name))),
          h("td", { class: "num", "data-field": "in" }, rate(q.publishPerS)),
          h("td", { class: "num", "data-field": "out" }, rate(q.deliverPerS)),
          h("td", { class: "num", "data-field": "change" }, rate(q.depthChangePerS)),
          h("td", { class: "num", "data-field": "consumers" }, fmtInt(q.consumers)),
        ),
      ),
    );
  }

  async function refresh() {
    // Polling (no stream): the same bodies, fetched.
    const [workers, queues] = await Promise.allSettled([getJSON("/workers"), getJSON("/queues")]);
    if (workers.status === "fulfilled") renderWorkers(workers.value);
    if (queues.status === "fulfilled") renderQueues(queues.value);
    else $("queues-note").textContent = `Queues unknown: ${queues.reason.message}`;
  }

  return { handlers: { workers: renderWorkers, queues: renderQueues }, refresh };
}
