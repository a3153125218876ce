// Methods and their options: the method list and, for the chosen method, a form built from each part's JSON
// schema; only what the user changed is sent.

import { $, state } from "./state.js";
import { fetchCatalogue } from "./api.js";

export async function loadCatalogue() {
  const catalogue = await fetchCatalogue();
  if (!catalogue) return;
  state.catalogue = catalogue;
  const select = $("method");
  select.textContent = "";
  const isDefault = (m) => m.name === state.catalogue.default;
  const methods = [...state.catalogue.methods].sort((a, b) => isDefault(b) - isDefault(a));
  const missing = [];
  for (const method of methods) {
    if (!method.available) {
      missing.push(method);
      continue; // offer only what can run here; say below why the rest cannot
    }
    const option = document.createElement("option");
    option.value = method.name;
    option.textContent = isDefault(method) ? `${method.name} (default)` : method.name;
    select.append(option);
  }
  const list = $("missing-list");
  list.textContent = "";
  for (const method of missing) {
    const item = document.createElement("li");
    item.textContent = `${method.name}: ${method.reason}`;
    list.append(item);
  }
  $("missing-summary").textContent = `Not offered here (${missing.length})`;
  $("missing-methods").hidden = !missing.length;
  if (methods.some((m) => isDefault(m) && m.available)) select.value = state.catalogue.default;
  $("working-size").value = state.catalogue.options.properties.working_size.default;
  renderMethodOptions();
  document.body.dataset.state = state.bitmap ? "ready" : "empty";
}

function fieldType(schema) {
  if (schema.type) return { type: schema.type, nullable: false, bounds: schema };
  const options = schema.anyOf || [];
  const main = options.find((s) => s.type !== "null") || { type: "string" };
  return { type: main.type, nullable: options.some((s) => s.type === "null"), bounds: main };
}

function optionInput(name, schema, group) {
  const row = document.createElement("div");
  row.className = "row";
  const label = document.createElement("label");
  label.textContent = name.replaceAll("_", " ");
  label.title = `${name}: ${schema.description || ""}`;
  const { type, nullable, bounds } = fieldType(schema);
  const input = document.createElement("input");
  input.dataset.group = group;
  input.dataset.name = name;
  input.dataset.type = type;
  input.title = schema.description || name;
  if (type === "boolean") {
    input.type = "checkbox";
    input.checked = Boolean(schema.default);
  } else if (type === "integer" || type === "number") {
    input.type = "number";
    input.step = type === "integer" ? "1" : "any";
    if (bounds.minimum !== undefined) input.min = bounds.minimum;
    if (bounds.maximum !== undefined) input.max = bounds.maximum;
    if (bounds.minimum !== undefined && bounds.maximum !== undefined)
      input.title += ` (${bounds.minimum} to ${bounds.maximum})`;
    input.value = schema.default ?? "";
    if (nullable) input.placeholder = "auto";
  } else {
    input.type = "text";
    input.value = schema.default ?? "";
  }
  input.dataset.default = JSON.stringify(schema.default ?? null);
  label.htmlFor = input.id = `opt-${group}-${name}`;
  row.append(label, input);
  return row;
}

function renderOptionGroup(container, title, schema, group, skip = []) {
  container.textContent = "";
  if (!schema || !schema.properties) return;
  const names = Object.keys(schema.properties).filter((n) => !skip.includes(n));
  if (!names.length) return;
  const heading = document.createElement("h3");
  heading.textContent = title;
  container.append(heading);
  for (const name of names) container.append(optionInput(name, schema.properties[name], group));
}

export function renderMethodOptions() {
  const catalogue = state.catalogue;
  if (!catalogue) return;
  const method = catalogue.methods.find((m) => m.name === $("method").value);
  if (!method) return;
  const filler = catalogue.fillers[method.filler];
  const lifter = catalogue.lifters[method.lifter];
  $("method-help").textContent = `${method.filler}: ${filler.help}. ${method.lifter}: ${lifter.help}.`;
  renderOptionGroup($("filler-options"), `Filler: ${method.filler}`, filler.options, "filler");
  renderOptionGroup($("lifter-options"), `Lifter: ${method.lifter}`, lifter.options, "lifter");
  // grow is the server's own dilation; the page grows and shrinks the painted mask itself (the slider)
  const mainOptions = ["working_size", "grow", "filler", "lifter", "invert_mask", "mask_threshold"];
  renderOptionGroup($("pipeline-options"), "Pipeline and output", catalogue.options, "pipeline", mainOptions);
}

export function collectOptions() {
  const options = { filler: {}, lifter: {} };
  const workingSize = $("working-size").value;
  if (workingSize !== "") options.working_size = Number(workingSize);
  for (const input of document.querySelectorAll("#advanced input[data-name]")) {
    const fallback = JSON.parse(input.dataset.default);
    let value;
    if (input.dataset.type === "boolean") value = input.checked;
    else if (input.dataset.type === "integer" || input.dataset.type === "number")
      value = input.value === "" ? null : Number(input.value);
    else value = input.value;
    if (value === fallback) continue; // only what the user changed; the server keeps its defaults
    const target = input.dataset.group === "pipeline" ? options : options[input.dataset.group];
    target[input.dataset.name] = value;
  }
  return options;
}
