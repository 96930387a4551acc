// Retry of FAILED jobs from the dashboard: POST /jobs/{id}/retry on the gateway (the
// same token as every other write), the Retry buttons of failed rows and of the job
// drawer, and the retry request shown on a job's timeline. app.js hands over what it
// shares: its element builder, its HTTP helpers, its state and how to open a job.

export function retryUi({ h, postJSON, gatewayUrl, describe, openJob, state }) {
  state.retryStatus = state.retryStatus || {};

  async function retryJob(jobId) {
    let text;
    try {
      const answer = await postJSON(gatewayUrl(`/jobs/${encodeURIComponent(jobId)}/retry`));
      text = `Retry requested: round ${answer.round} runs shortly.`;
    } catch (error) {
      text = describe(error);
    }
    state.retryStatus[jobId] = text;
    await openJob(jobId, { keepScroll: true });
  }

  function retryButton(jobId, cls) {
    // In a row: the click is the button's, not the row's (which opens the drawer).
    const click = (e) => {
      e.stopPropagation();
      retryJob(jobId).catch(() => {});
    };
    const attrs = { type: "button", class: `ghost retry ${cls}`, "data-job-id": jobId, onclick: click, onkeydown: (e) => e.stopPropagation() };
    return h("button", attrs, "Retry");
  }

  function retryRequest(event) {
    // A job.created of a later round is the retry request that started it: who asked.
    const retry = event.payload?.retry;
    if (event.eventType !== "job.created" || !retry) return null;
    const by = retry.requestedBy || {};
    const who = `${by.role || "?"}${by.token ? ` ${by.token}` : ""}`;
    return h("span", { class: "retry-request", "data-round": String(retry.round) }, `retry requested (round ${retry.round}, by ${who}) `);
  }

  return { retryButton, retryRequest };
}
