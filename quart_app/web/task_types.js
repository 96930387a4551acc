// New Task form: the registered job types (GET /types) and the selected type's payload
// schema as a hint: what it is, where it runs, its properties, and an example payload
// built from the schema. Plain ES module; the dashboard (app.js) passes in its helpers.

const MODES = { async: "on the event loop", thread: "in a worker thread", process: "in a worker process" };

/** The JSON type(s) a property schema names, as text ("string", "integer | null"). */
function typeText(prop) {
  if (Array.isArray(prop.enum)) return `one of ${prop.enum.map((v) => JSON.stringify(v)).join(", ")}`;
  if ("const" in prop) return `always ${JSON.stringify(prop.const)}`;
  if (Array.isArray(prop.type)) return prop.type.join(" | ");
  return prop.type || "any";
}

/** The constraints of a property schema worth a glance, as short phrases. */
function constraints(prop) {
  const found = [];
  if (prop.minimum !== undefined) found.push(`≥ ${prop.minimum}`);
  if (prop.exclusiveMinimum !== undefined) found.push(`> ${prop.exclusiveMinimum}`);
  if (prop.maximum !== undefined) found.push(`≤ ${prop.maximum}`);
  if (prop.minLength !== undefined) found.push(`at least ${prop.minLength} characters`);
  if (prop.maxLength !== undefined) found.push(`at most ${prop.maxLength} characters`);
  if (prop.pattern !== undefined) found.push(`matches ${prop.pattern}`);
  if (prop.format !== undefined) found.push(`format ${prop.format}`);
  if (prop.default !== undefined) found.push(`default ${JSON.stringify(prop.default)}`);
  return found;
}

/** One entry per property of an object schema: name, type, required, constraints, text. */
export function schemaProperties(schema) {
  const props = (schema && typeof schema.properties === "object" && schema.properties) || {};
  const required = new Set(Array.isArray(schema?.required) ? schema.required : []);
  const names = [...required].filter((n) => !(n in props)).concat(Object.keys(props));
  return names.map((name) => {
    const prop = (props[name] && typeof props[name] === "object" && props[name]) || {};
    return { name, type: typeText(prop), required: required.has(name), constraints: constraints(prop), description: prop.description || "" };
  });
}

function exampleValue(prop) {
  if (Array.isArray(prop.examples) && prop.examples.length) return prop.examples[0];
  if (prop.default !== undefined) return prop.default;
  if ("const" in prop) return prop.const;
  if (Array.isArray(prop.enum) && prop.enum.length) return prop.enum[0];
  const type = Array.isArray(prop.type) ? prop.type[0] : prop.type;
  if (type === "integer" || type === "number") return prop.minimum ?? (prop.exclusiveMinimum !== undefined ? prop.exclusiveMinimum + 1 : 0);
  if (type === "boolean") return false;
  if (type === "array") return [];
  if (type === "object") return examplePayload(prop);
  if (type === "null") return null;
  return "";
}

/** A payload to start from: the schema's first example, else its required properties. */
export function examplePayload(schema) {
  if (!schema || typeof schema !== "object") return {};
  if (Array.isArray(schema.examples) && schema.examples[0] && typeof schema.examples[0] === "object") return schema.examples[0];
  const props = schema.properties || {};
  const payload = {};
  for (const name of Array.isArray(schema.required) ? schema.required : []) payload[name] = exampleValue(props[name] || {});
  return payload;
}

/** One line about a type: its description, where it runs, its options. */
export function typeSummary(info) {
  const parts = [];
  if (info.description) parts.push(info.description);
  if (MODES[info.mode]) parts.push(`runs ${MODES[info.mode]}`);
  if (info.timeoutS != null) parts.push(`timeout ${info.timeoutS} s`);
  if (info.maxAttempts != null) parts.push(info.maxAttempts === 1 ? "1 attempt" : `up to ${info.maxAttempts} attempts`);
  if (info.concurrency != null) parts.push(`at most ${info.concurrency} at once`);
  return parts.join(" · ");
}

/**
 * The type hint of the New Task form.
 *
 * @param {object} deps  h (element builder), byId, getJSON, and fill(text): puts a payload
 *   in the form (and re-validates it).
 */
export function createTypeHints({ h, byId, getJSON, fill }) {
  let types = new Map();

  async function load() {
    try {
      const list = await getJSON("/types");
      types = new Map(list.map((info) => [info.type, info]));
    } catch (error) {
      types = new Map(); // an older read model: the form still offers /config's types
    }
  }

  function schemaDetails(info) {
    const schema = info.payloadSchema;
    const props = schemaProperties(schema);
    const summary = props.length ? props.map((p) => `${p.name} (${p.type}${p.required ? ", required" : ""})`).join(", ") : "see the schema";
    return h(
      "details",
      { id: "task-schema", class: "type-schema" },
      h("summary", {}, `Payload schema: ${summary}`),
      props.length
        ? h(
            "ul",
            { class: "schema-props" },
            props.map((p) =>
              h(
                "li",
                { "data-property": p.name },
                h("code", {}, p.name),
                " ",
                h("span", { class: "muted" }, p.type),
                p.required ? h("strong", { class: "required" }, " required") : "",
                p.description ? ` — ${p.description}` : "",
                p.constraints.length ? h("span", { class: "muted" }, ` (${p.constraints.join(", ")})`) : "",
              ),
            ),
          )
        : "",
      h("details", { class: "type-schema-json" }, h("summary", {}, "JSON Schema"), h("pre", { class: "mono small", id: "task-schema-json" }, JSON.stringify(schema, null, 2))),
    );
  }

  function exampleButton(info) {
    const example = JSON.stringify(examplePayload(info.payloadSchema), null, 2);
    return h("button", { type: "button", class: "ghost small", id: "task-use-example", title: example, onclick: () => fill(example) }, "Use example payload");
  }

  /** Show the hint for the type typed in the form (nothing while it is empty). */
  function render(typeName) {
    const target = byId("task-type-hint");
    const info = types.get(typeName);
    if (!typeName) {
      target.replaceChildren();
    } else if (!info) {
      target.replaceChildren(
        types.size ? h("p", { class: "small muted", id: "task-type-about" }, `'${typeName}' is not among the registered types: ${[...types.keys()].join(", ")}.`) : "",
      );
    } else {
      target.replaceChildren(
        h("p", { class: "small muted", id: "task-type-about" }, typeSummary(info)),
        ...(info.payloadSchema
          ? [schemaDetails(info), exampleButton(info)]
          : [h("p", { class: "small muted", id: "task-schema-none" }, "Any JSON object: this type has no payload schema.")]),
      );
    }
    target.dataset.type = info ? typeName : "";
  }

  return { load, render, names: () => [...types.keys()] };
}
