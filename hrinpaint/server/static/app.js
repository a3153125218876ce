// hrinpaint page: open a photo, paint the hole, run a method, compare, download. Plain JS, no build step.
//
// The photo is shown scaled to fit; strokes are kept as vectors in the photo's own pixel coordinates, so the
// mask sent to the server is drawn at full resolution whatever the zoom, and undo/redo just replays them.
"use strict";

const $ = (id) => document.getElementById(id);
const MASK_COLOUR = "#ff3d6a";
const POLL_MS = 250;

const state = {
  file: null, // the photo as picked (sent unchanged)
  bitmap: null, // decoded photo, EXIF orientation applied (as the server applies it)
  width: 0,
  height: 0,
  actions: [], // {kind: "stroke", size, erase, points: [[x, y], ...]} | {kind: "clear"}, photo pixels
  undone: [],
  stroke: null, // the stroke being drawn
  erase: false,
  view: "edit", // edit | result | compare
  split: 0.5,
  result: null, // {blob, bitmap, url, filename}
  scale: 1, // CSS pixels per photo pixel
  catalogue: null,
  running: false,
};

// ---------------------------------------------------------------------------------------------- errors, status

function showError(message) {
  $("error-text").textContent = message;
  $("error").hidden = false;
}

function hideError() {
  $("error").hidden = true;
}

function setStatus(text) {
  $("status").textContent = text;
}

function setProgress(fraction, indeterminate = false) {
  const box = $("progress");
  box.hidden = fraction === null;
  box.classList.toggle("indeterminate", indeterminate);
  if (fraction !== null) $("progress-bar").style.width = `${Math.round(fraction * 100)}%`;
}

async function errorText(response) {
  // FastAPI answers {"detail": "..."} or, for a malformed form, {"detail": [{loc, msg}, ...]}
  let detail = null;
  try {
    detail = (await response.json()).detail;
  } catch (_) {
    /* not JSON */
  }
  if (Array.isArray(detail)) detail = detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
  return detail || `${response.status} ${response.statusText || "error"}`;
}

// ---------------------------------------------------------------------------------------------- methods and options

async function loadCatalogue() {
  let response;
  try {
    response = await fetch("/api/methods");
  } catch (_) {
    showError("Cannot reach the hrinpaint server. Is `hrinpaint serve` still running?");
    return;
  }
  if (!response.ok) {
    showError(`Cannot list the methods: ${await errorText(response)}`);
    return;
  }
  state.catalogue = await response.json();
  const select = $("method");
  select.textContent = "";
  const methods = [...state.catalogue.methods];
  methods.sort((a, b) => (b.name === state.catalogue.default) - (a.name === state.catalogue.default));
  for (const method of methods) {
    const option = document.createElement("option");
    option.value = method.name;
    let label = method.name;
    if (method.name === state.catalogue.default) label += " (default)";
    if (!method.available) label += " (no weights)";
    option.textContent = label;
    if (method.reason) option.title = method.reason;
    select.append(option);
  }
  select.value = state.catalogue.default;
  const pipeline = state.catalogue.options.properties;
  $("working-size").value = pipeline.working_size.default;
  $("grow").value = pipeline.grow.default;
  renderMethodOptions();
  document.body.dataset.state = state.bitmap ? "ready" : "empty";
}

function fieldType(schema) {
  if (schema.type) return { type: schema.type, nullable: false };
  const types = (schema.anyOf || []).map((s) => s.type);
  return { type: types.find((t) => t !== "null") || "string", nullable: types.includes("null") };
}

function optionInput(name, schema, group) {
  const row = document.createElement("div");
  row.className = "row";
  const label = document.createElement("label");
  label.textContent = name.replaceAll("_", " ");
  label.title = `${name}: ${schema.description || ""}`;
  const { type, nullable } = fieldType(schema);
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
    if (schema.minimum !== undefined) input.min = schema.minimum;
    if (schema.maximum !== undefined) input.max = schema.maximum;
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

function renderMethodOptions() {
  const catalogue = state.catalogue;
  if (!catalogue) return;
  const method = catalogue.methods.find((m) => m.name === $("method").value);
  if (!method) return;
  const filler = catalogue.fillers[method.filler];
  const lifter = catalogue.lifters[method.lifter];
  const help = [`${method.filler}: ${filler.help}`, `${method.lifter}: ${lifter.help}`];
  if (method.reason) help.push(`Not available here: ${method.reason}`);
  $("method-help").textContent = help.join(". ");
  renderOptionGroup($("filler-options"), `Filler: ${method.filler}`, filler.options, "filler");
  renderOptionGroup($("lifter-options"), `Lifter: ${method.lifter}`, lifter.options, "lifter");
  const mainOptions = ["working_size", "grow", "filler", "lifter", "invert_mask", "mask_threshold"];
  renderOptionGroup($("pipeline-options"), "Pipeline and output", catalogue.options, "pipeline", mainOptions);
}

function collectOptions() {
  const options = { filler: {}, lifter: {} };
  const workingSize = $("working-size").value;
  if (workingSize !== "") options.working_size = Number(workingSize);
  const grow = $("grow").value;
  if (grow !== "") options.grow = Number(grow);
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

// ---------------------------------------------------------------------------------------------- opening a photo

async function openPhoto(file) {
  hideError();
  if (!file) return;
  if (file.type && !file.type.startsWith("image/")) {
    showError(`${file.name} is not an image (${file.type}).`);
    return;
  }
  const limits = state.catalogue?.limits;
  if (limits && file.size > limits.max_upload_bytes) {
    const mb = (bytes) => (bytes / 2 ** 20).toFixed(1);
    showError(`${file.name} is ${mb(file.size)} MB; the server accepts up to ${mb(limits.max_upload_bytes)} MB.`);
    return;
  }
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch (_) {
    showError(
      `This browser cannot display ${file.name}. TIFF and some other formats only work from the command line ` +
        "(hrinpaint inpaint) or the API; convert it to PNG or JPEG to use the page.",
    );
    return;
  }
  if (limits && bitmap.width * bitmap.height > limits.max_pixels) {
    showError(
      `${file.name} is ${bitmap.width}×${bitmap.height} = ${(bitmap.width * bitmap.height / 1e6).toFixed(1)} MP; ` +
        `the server accepts up to ${(limits.max_pixels / 1e6).toFixed(0)} MP (hrinpaint serve --max-pixels).`,
    );
    bitmap.close();
    return;
  }
  state.bitmap?.close();
  clearResult();
  Object.assign(state, { file, bitmap, width: bitmap.width, height: bitmap.height, actions: [], undone: [] });
  $("photo-info").textContent = `${file.name} · ${bitmap.width}×${bitmap.height}`;
  $("dropzone").hidden = true;
  $("stage").hidden = false;
  state.view = "edit";
  layout();
  setView("edit");
  setStatus("Paint over what should go, then press the button.");
  setProgress(null);
  document.body.dataset.state = "ready";
}

function clearResult() {
  if (state.result) {
    URL.revokeObjectURL(state.result.url);
    state.result.bitmap?.close();
  }
  state.result = null;
  $("result-section").hidden = true;
}

// ---------------------------------------------------------------------------------------------- drawing

const scaled = { before: null, after: null }; // the photo and result at display size, for fast redraws

function layout() {
  if (!state.bitmap) return;
  const wrap = $("stage-wrap");
  const margin = 24;
  const available = { w: wrap.clientWidth - 2 * margin, h: wrap.clientHeight - 2 * margin };
  state.scale = Math.min(available.w / state.width, available.h / state.height, 8);
  const cssW = Math.max(1, Math.round(state.width * state.scale));
  const cssH = Math.max(1, Math.round(state.height * state.scale));
  const ratio = window.devicePixelRatio || 1;
  for (const canvas of [$("view"), $("overlay")]) {
    canvas.style.width = `${cssW}px`;
    canvas.style.height = `${cssH}px`;
    canvas.width = Math.round(cssW * ratio);
    canvas.height = Math.round(cssH * ratio);
  }
  scaled.before = scaleBitmap(state.bitmap);
  scaled.after = state.result?.bitmap ? scaleBitmap(state.result.bitmap) : null;
  drawView();
  drawMask();
  updateCursorSize();
}

function scaleBitmap(bitmap) {
  const target = $("view");
  const canvas = document.createElement("canvas");
  canvas.width = target.width;
  canvas.height = target.height;
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  return canvas;
}

function drawView() {
  const canvas = $("view");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!scaled.before) return;
  const showResult = state.view !== "edit" && scaled.after;
  if (!showResult) {
    ctx.drawImage(scaled.before, 0, 0);
  } else if (state.view === "result") {
    ctx.drawImage(scaled.after, 0, 0);
  } else {
    // compare: before on the left of the split, after on the right
    const x = Math.round(canvas.width * state.split);
    ctx.drawImage(scaled.after, 0, 0);
    if (x > 0) ctx.drawImage(scaled.before, 0, 0, x, canvas.height, 0, 0, x, canvas.height);
  }
  const comparing = showResult && state.view === "compare";
  const line = $("split-line");
  line.hidden = !comparing;
  line.style.left = `${state.split * 100}%`;
  $("label-before").hidden = !comparing || state.split < 0.08;
  $("label-after").hidden = !showResult || (comparing && state.split > 0.92);
  $("overlay").style.visibility = state.view === "edit" ? "visible" : "hidden";
  $("stage").classList.toggle("viewing", state.view !== "edit");
}

function paintStroke(ctx, stroke, scale, colour, eraseColour) {
  // colour "null" erases to transparency (display); otherwise paint with colour/eraseColour (full-res mask)
  ctx.save();
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.lineWidth = stroke.size * scale;
  if (eraseColour === null) {
    ctx.globalCompositeOperation = stroke.erase ? "destination-out" : "source-over";
    ctx.strokeStyle = ctx.fillStyle = colour;
  } else {
    ctx.strokeStyle = ctx.fillStyle = stroke.erase ? eraseColour : colour;
  }
  const points = stroke.points;
  ctx.beginPath();
  if (points.length === 1) {
    ctx.arc(points[0][0] * scale, points[0][1] * scale, (stroke.size * scale) / 2, 0, 2 * Math.PI);
    ctx.fill();
  } else {
    ctx.moveTo(points[0][0] * scale, points[0][1] * scale);
    for (const [x, y] of points.slice(1)) ctx.lineTo(x * scale, y * scale);
    ctx.stroke();
  }
  ctx.restore();
}

function replay(ctx, scale, width, height, background, colour, eraseColour) {
  const clear = () => {
    ctx.clearRect(0, 0, width, height);
    if (background) {
      ctx.fillStyle = background;
      ctx.fillRect(0, 0, width, height);
    }
  };
  clear();
  for (const action of state.actions) {
    if (action.kind === "clear") clear();
    else paintStroke(ctx, action, scale, colour, eraseColour);
  }
}

function drawMask() {
  const canvas = $("overlay");
  const ctx = canvas.getContext("2d");
  replay(ctx, canvas.width / state.width, canvas.width, canvas.height, null, MASK_COLOUR, null);
  updateButtons();
}

function hasPaint() {
  // the display overlay tells whether anything painted is left after erasing
  const canvas = $("overlay");
  if (!state.actions.length || !canvas.width) return false;
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) return true;
  return false;
}

function updateButtons() {
  const lastIsClear = state.actions.at(-1)?.kind === "clear";
  $("undo").disabled = !state.actions.length || state.running;
  $("redo").disabled = !state.undone.length || state.running;
  $("clear").disabled = !state.actions.length || lastIsClear || state.running;
  $("run").disabled = !state.bitmap || state.running;
}

function photoPoint(event) {
  const rect = $("overlay").getBoundingClientRect();
  return [
    ((event.clientX - rect.left) / rect.width) * state.width,
    ((event.clientY - rect.top) / rect.height) * state.height,
  ];
}

function brushPhotoSize() {
  return Number($("brush-size").value) / state.scale;
}

function onPointerDown(event) {
  if (!state.bitmap || state.running || event.button !== 0) return;
  event.preventDefault();
  $("overlay").setPointerCapture(event.pointerId);
  if (state.view === "compare") {
    moveSplit(event);
    return;
  }
  if (state.view !== "edit") return;
  hideError();
  state.stroke = { kind: "stroke", size: brushPhotoSize(), erase: state.erase, points: [photoPoint(event)] };
  const canvas = $("overlay");
  paintStroke(canvas.getContext("2d"), state.stroke, canvas.width / state.width, MASK_COLOUR, null);
}

function onPointerMove(event) {
  moveCursor(event);
  if (state.view === "compare" && event.buttons & 1) {
    moveSplit(event);
    return;
  }
  if (!state.stroke) return;
  const canvas = $("overlay");
  const ctx = canvas.getContext("2d");
  const scale = canvas.width / state.width;
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
  for (const e of events.length ? events : [event]) {
    const point = photoPoint(e);
    const last = state.stroke.points.at(-1);
    state.stroke.points.push(point);
    paintStroke(ctx, { ...state.stroke, points: [last, point] }, scale, MASK_COLOUR, null);
  }
}

function onPointerUp() {
  if (!state.stroke) return;
  state.actions.push(state.stroke);
  state.undone = [];
  state.stroke = null;
  drawMask(); // a full replay keeps overlapping segments of one stroke from stacking alpha unevenly
}

function moveSplit(event) {
  const rect = $("overlay").getBoundingClientRect();
  state.split = Math.min(1, Math.max(0, (event.clientX - rect.left) / rect.width));
  $("split").value = Math.round(state.split * 1000);
  drawView();
}

function moveCursor(event) {
  const cursor = $("cursor");
  const rect = $("stage").getBoundingClientRect();
  cursor.hidden = state.view !== "edit";
  cursor.style.left = `${event.clientX - rect.left}px`;
  cursor.style.top = `${event.clientY - rect.top}px`;
}

function updateCursorSize() {
  const size = Number($("brush-size").value);
  $("brush-size-value").textContent = `${size} px`;
  const cursor = $("cursor");
  cursor.style.width = cursor.style.height = `${size}px`;
  cursor.classList.toggle("eraser", state.erase);
}

function undo() {
  if (!state.actions.length || state.running) return;
  state.undone.push(state.actions.pop());
  drawMask();
}

function redo() {
  if (!state.undone.length || state.running) return;
  state.actions.push(state.undone.pop());
  drawMask();
}

function clearMask() {
  if (!state.actions.length || state.actions.at(-1).kind === "clear") return;
  state.actions.push({ kind: "clear" });
  state.undone = [];
  drawMask();
}

function setTool(erase) {
  state.erase = erase;
  $("tool-brush").classList.toggle("active", !erase);
  $("tool-eraser").classList.toggle("active", erase);
  updateCursorSize();
}

function setView(view) {
  state.view = view;
  for (const name of ["edit", "result", "compare"]) $(`view-${name}`).classList.toggle("active", name === view);
  $("split-row").hidden = view !== "compare";
  $("cursor").hidden = true;
  drawView();
}

// ---------------------------------------------------------------------------------------------- running

async function fullResolutionMask() {
  const canvas = document.createElement("canvas");
  canvas.width = state.width;
  canvas.height = state.height;
  const ctx = canvas.getContext("2d");
  if (!ctx) throw new Error(`the browser cannot make a ${state.width}×${state.height} canvas for the mask`);
  replay(ctx, 1, state.width, state.height, "#000", "#fff", "#000");
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
  canvas.width = canvas.height = 0; // give the memory back now
  if (!blob) throw new Error(`the browser could not encode a ${state.width}×${state.height} mask`);
  return blob;
}

function upload(form, onProgress) {
  // XMLHttpRequest, because fetch does not report upload progress
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", "/api/jobs");
    request.responseType = "json";
    request.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    request.onload = () => resolve(request);
    request.onerror = () => reject(new Error("the upload failed: the server did not answer"));
    request.send(form);
  });
}

function describeRejection(request) {
  const detail = request.response?.detail;
  let text = Array.isArray(detail)
    ? detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ")
    : detail || `${request.status} ${request.statusText}`;
  if (request.status === 503) {
    const wait = request.getResponseHeader("Retry-After");
    text = `The server is busy with other photos. Try again${wait ? ` in about ${wait} s` : " shortly"}.`;
  }
  return text;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function run() {
  if (!state.bitmap || state.running) return;
  hideError();
  if (!hasPaint()) {
    showError("Paint over the part of the photo to remove first.");
    return;
  }
  state.running = true;
  document.body.dataset.state = "running";
  updateButtons();
  const started = performance.now();
  const elapsed = () => `${((performance.now() - started) / 1000).toFixed(1)} s`;
  try {
    setProgress(0);
    setStatus("Preparing the mask…");
    const mask = await fullResolutionMask();
    const form = new FormData();
    form.append("image", state.file, state.file.name);
    form.append("mask", mask, "mask.png");
    form.append("method", $("method").value);
    form.append("options", JSON.stringify(collectOptions()));
    const request = await upload(form, (fraction) => {
      setProgress(0.3 * fraction);
      setStatus(`Uploading ${Math.round(fraction * 100)}%`);
    });
    if (request.status !== 202) throw new Error(describeRejection(request));
    const job = request.response;
    const status = await poll(job.status_url, elapsed);
    if (status.state === "failed") throw new Error(status.error || "the job failed");
    setProgress(0.95);
    setStatus("Downloading the result…");
    const response = await fetch(job.result_url);
    if (!response.ok) throw new Error(await errorText(response));
    await showResult(response);
    setProgress(1);
    const filled = Number(response.headers.get("X-Hrinpaint-Filled-Pixels") || 0);
    setStatus(`Done in ${elapsed()} with ${response.headers.get("X-Hrinpaint-Method")}: ${filled.toLocaleString()} pixels filled.`);
    document.body.dataset.state = "done";
  } catch (error) {
    setProgress(null);
    setStatus("");
    showError(error.message.charAt(0).toUpperCase() + error.message.slice(1));
    document.body.dataset.state = "error";
  } finally {
    state.running = false;
    updateButtons();
  }
}

async function poll(url, elapsed) {
  for (;;) {
    let response;
    try {
      response = await fetch(url, { cache: "no-store" });
    } catch (_) {
      throw new Error("lost the connection to the server while the photo was being processed");
    }
    if (!response.ok) throw new Error(await errorText(response));
    const status = await response.json();
    if (status.state === "done" || status.state === "failed") return status;
    if (status.state === "queued") {
      setProgress(0.3, true);
      setStatus(`Waiting for the server: ${status.position} ahead of this photo (${elapsed()})`);
    } else if (status.stage === "reading") {
      setProgress(0.35);
      setStatus(`Reading the photo… (${elapsed()})`);
    } else if (status.stage === "filling") {
      if (status.total > 0) {
        setProgress(0.4 + (0.5 * status.done) / status.total);
        setStatus(`Filling: ${status.done} of ${status.total} areas done (${elapsed()})`);
      } else {
        setProgress(0.4, true);
        setStatus(`Filling the painted area… (${elapsed()})`);
      }
    } else if (status.stage === "writing") {
      setProgress(0.92);
      setStatus(`Encoding the result… (${elapsed()})`);
    }
    await sleep(POLL_MS);
  }
}

function downloadName(response) {
  const header = response.headers.get("Content-Disposition") || "";
  const match = /filename="([^"]+)"/.exec(header);
  return match ? match[1] : "hrinpaint_result";
}

async function showResult(response) {
  const blob = await response.blob();
  clearResult();
  const url = URL.createObjectURL(blob);
  let bitmap = null;
  try {
    bitmap = await createImageBitmap(blob, { imageOrientation: "from-image" });
  } catch (_) {
    showError("The result is ready, but this browser cannot display its format; download it below.");
  }
  state.result = { blob, bitmap, url, filename: downloadName(response) };
  const link = $("download");
  link.href = url;
  link.download = state.result.filename;
  const kind = (blob.type.split("/")[1] || "image").toUpperCase();
  link.textContent = `Download (${kind}, ${(blob.size / 2 ** 20).toFixed(1)} MB)`;
  link.title = `Save ${state.result.filename} at full resolution`;
  $("result-section").hidden = false;
  $("continue").disabled = !bitmap;
  scaled.after = bitmap ? scaleBitmap(bitmap) : null;
  state.split = 0.5;
  $("split").value = 500;
  setView(bitmap ? "compare" : "edit");
}

async function continueFromResult() {
  if (!state.result?.bitmap) return;
  const file = new File([state.result.blob], state.file.name, { type: state.result.blob.type });
  await openPhoto(file);
}

// ---------------------------------------------------------------------------------------------- wiring

function wire() {
  $("file").addEventListener("change", (e) => {
    openPhoto(e.target.files[0]);
    e.target.value = ""; // picking the same file again must work
  });
  const wrap = $("stage-wrap");
  wrap.addEventListener("dragover", (e) => {
    e.preventDefault();
    wrap.classList.add("dragging");
  });
  wrap.addEventListener("dragleave", () => wrap.classList.remove("dragging"));
  wrap.addEventListener("drop", (e) => {
    e.preventDefault();
    wrap.classList.remove("dragging");
    const file = e.dataTransfer.files[0];
    if (file) openPhoto(file);
  });
  // dropping beside the stage must not navigate away from the page
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());

  const overlay = $("overlay");
  overlay.addEventListener("pointerdown", onPointerDown);
  overlay.addEventListener("pointermove", onPointerMove);
  overlay.addEventListener("pointerup", onPointerUp);
  overlay.addEventListener("pointercancel", onPointerUp);
  overlay.addEventListener("pointerleave", () => ($("cursor").hidden = true));
  overlay.addEventListener("pointerenter", (e) => moveCursor(e));

  $("brush-size").addEventListener("input", updateCursorSize);
  $("tool-brush").addEventListener("click", () => setTool(false));
  $("tool-eraser").addEventListener("click", () => setTool(true));
  $("undo").addEventListener("click", undo);
  $("redo").addEventListener("click", redo);
  $("clear").addEventListener("click", clearMask);
  $("method").addEventListener("change", renderMethodOptions);
  $("run").addEventListener("click", run);
  $("view-edit").addEventListener("click", () => setView("edit"));
  $("view-result").addEventListener("click", () => setView("result"));
  $("view-compare").addEventListener("click", () => setView("compare"));
  $("split").addEventListener("input", (e) => {
    state.split = Number(e.target.value) / 1000;
    drawView();
  });
  $("continue").addEventListener("click", continueFromResult);
  $("error-close").addEventListener("click", hideError);

  window.addEventListener("keydown", (e) => {
    if (e.target.closest("input, select, textarea")) return;
    const key = e.key.toLowerCase();
    if ((e.ctrlKey || e.metaKey) && key === "z") {
      e.preventDefault();
      e.shiftKey ? redo() : undo();
    } else if ((e.ctrlKey || e.metaKey) && key === "y") {
      e.preventDefault();
      redo();
    } else if (key === "b") setTool(false);
    else if (key === "e") setTool(true);
    else if (key === "[" || key === "]") {
      const slider = $("brush-size");
      slider.value = Number(slider.value) + (key === "]" ? 5 : -5);
      updateCursorSize();
    }
  });
  new ResizeObserver(() => layout()).observe(wrap);
  window.addEventListener("unhandledrejection", (e) => showError(String(e.reason?.message || e.reason)));
}

wire();
updateCursorSize();
updateButtons();
loadCatalogue();
