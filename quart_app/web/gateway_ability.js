// Whether this page may act through the gateway now, and if not why: asked by the Jobs
// page's bulk buttons and the Schedules panel's buttons before they are switched on.
// The role is the one of the token given now (it may have changed since the page
// loaded); the gateway answers its open /healthz when it is up.

/** {ok, why}: `acting` says what a submitter token would allow ("act on jobs"). */
export async function gatewayAbility({ getJSON, gatewayUrl, state }, acting) {
  try {
    state.config = { ...state.config, ...(await getJSON("/config")) };
  } catch (error) {
    // The read model is away: the page says so through its connection pill.
  }
  const base = gatewayUrl("");
  if (state.config?.role === "viewer") {
    return { ok: false, why: `A viewer token may only read: give a submitter token (the key button) to ${acting}.` };
  }
  if (!base) return { ok: false, why: "This read model names no gateway, so nothing can be acted on." };
  try {
    const response = await fetch(gatewayUrl("/healthz"));
    return response.ok ? { ok: true, why: "" } : { ok: false, why: `The gateway at ${base} answers ${response.status}.` };
  } catch (error) {
    return { ok: false, why: `The gateway at ${base} does not answer.` };
  }
}
