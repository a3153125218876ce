// hrinpaint page: open a photo, paint the hole, run a method, compare, download. Plain JS, no build step.
//
// Strokes are kept as vectors in the photo's own pixel coordinates, so the mask sent to the server is drawn at
// full resolution whatever the zoom, and undo/redo just replays them. The view is a transform: `zoom` CSS pixels
// per photo pixel and the photo's top-left corner at (`panX`, `panY`) in the stage; the photo, the mask overlay
// and the before/after split are all drawn through it.
"use strict";

const $ = (id) => document.getElementById(id);
const MASK_COLOUR = "#ff3d6a";
const POLL_MS = 250;
const MAX_ZOOM = 4; // 400%
const ZOOM_STEP = 1.25;

const state = {
  file: null, // the photo as picked (sent unchanged)
  bitmap: null, // decoded photo, EXIF orientation applied (as the server applies it)
  width: 0,
  height: 0,
  actions: [], // {kind: "stroke", size, erase, points: [[x, y], ...]} | {kind: "clear"}, photo pixels
  undone: [],
  stroke: null, // the stroke being drawn
  erase: false,
  grow: 0, // photo pixels the painted area grows (+) or shrinks (-) by, in the overlay and in the mask sent
  view: "edit", // edit | result | compare
  split: 0.5, // the compare split, as a fraction of the photo's width (so it follows zoom and pan)
  result: null, // {blob, bitmap, url, filename, source: the bitmap it was made from}
  base: "original", // what the next run fills: "original" or "result"
  zoom: 1,
  panX: 0,
  panY: 0,
  fitted: true, // keep fitting the photo when the window changes size, until the user zooms
  levels: new Map(), // bitmap -> downscaled copies for drawing at low zoom
  catalogue: null,
  running: false,
  job: null, // {status_url} of the job in progress, for cancel
  upload: null, // the XMLHttpRequest in progress
  cancelled: false,
  pointers: new Map(), // active pointers, for pinch
  gesture: null, // {distance, mid, zoom, panX, panY} while two pointers pinch
  panning: null, // {x, y, panX, panY} while panning
  splitting: false,
  spaceDown: false,
  lastPointer: null, // stage coordinates of the mouse, for keyboard zoom
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

function renderMethodOptions() {
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

function collectOptions() {
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
      `${file.name} is ${bitmap.width}×${bitmap.height} = ${((bitmap.width * bitmap.height) / 1e6).toFixed(1)} MP; ` +
        `the server accepts up to ${(limits.max_pixels / 1e6).toFixed(0)} MP (${limits.max_pixels_source}).`,
    );
    bitmap.close();
    return;
  }
  state.bitmap?.close();
  clearResult();
  state.levels.clear();
  Object.assign(state, { file, bitmap, width: bitmap.width, height: bitmap.height, actions: [], undone: [] });
  $("photo-info").textContent = `${file.name} · ${bitmap.width}×${bitmap.height}`;
  $("photo-info").title = $("photo-info").textContent;
  $("dropzone").hidden = true;
  $("stage").hidden = false;
  state.view = "edit";
  layout();
  fit();
  setView("edit");
  setStatus("Paint over what should go, then press the button.");
  setProgress(null);
  document.body.dataset.state = "ready";
}

function clearResult() {
  if (state.result) {
    URL.revokeObjectURL(state.result.url);
    if (state.result.bitmap !== state.bitmap) state.result.bitmap?.close();
  }
  state.result = null;
  state.base = "original";
  $("result-section").hidden = true;
  $("view-bar").hidden = true;
  $("download").hidden = true;
}

// ---------------------------------------------------------------------------------------------- view transform

function stageSize() {
  const wrap = $("stage-wrap");
  return { w: wrap.clientWidth, h: wrap.clientHeight };
}

function fitZoom() {
  const { w, h } = stageSize();
  const margin = w < 500 ? 8 : 24;
  return Math.min((w - 2 * margin) / state.width, (h - 2 * margin) / state.height, MAX_ZOOM);
}

function minZoom() {
  return Math.min(fitZoom() / 2, 1);
}

function clampPan() {
  // the photo may leave the stage by at most most of its size: some of it always stays in view
  const { w, h } = stageSize();
  const clampAxis = (pan, size, room) => {
    if (size <= room) return Math.min(Math.max(pan, 0), room - size);
    const keep = Math.min(64, room / 2);
    return Math.min(Math.max(pan, room - size - (room - keep)), room - keep);
  };
  state.panX = clampAxis(state.panX, state.width * state.zoom, w);
  state.panY = clampAxis(state.panY, state.height * state.zoom, h);
}

function fit() {
  if (!state.bitmap) return;
  const { w, h } = stageSize();
  state.zoom = fitZoom();
  state.panX = (w - state.width * state.zoom) / 2;
  state.panY = (h - state.height * state.zoom) / 2;
  state.fitted = true;
  redraw();
}

function zoomTo(zoom, cx, cy) {
  // keeps the photo point under the stage point (cx, cy) where it is
  if (!state.bitmap) return;
  const { w, h } = stageSize();
  if (cx === undefined) [cx, cy] = state.lastPointer || [w / 2, h / 2];
  zoom = Math.min(MAX_ZOOM, Math.max(minZoom(), zoom));
  const px = (cx - state.panX) / state.zoom;
  const py = (cy - state.panY) / state.zoom;
  state.zoom = zoom;
  state.panX = cx - px * zoom;
  state.panY = cy - py * zoom;
  state.fitted = false;
  clampPan();
  redraw();
}

function stagePoint(event) {
  const rect = $("stage").getBoundingClientRect();
  return [event.clientX - rect.left, event.clientY - rect.top];
}

function photoPoint(event) {
  const [x, y] = stagePoint(event);
  return [(x - state.panX) / state.zoom, (y - state.panY) / state.zoom];
}

function ratio() {
  return window.devicePixelRatio || 1;
}

// ---------------------------------------------------------------------------------------------- drawing

function layout() {
  if (!state.bitmap) return;
  const { w, h } = stageSize();
  for (const canvas of [$("view"), $("overlay")]) {
    canvas.style.width = `${w}px`;
    canvas.style.height = `${h}px`;
    canvas.width = Math.max(1, Math.round(w * ratio()));
    canvas.height = Math.max(1, Math.round(h * ratio()));
  }
  if (state.fitted) fit();
  else {
    clampPan();
    redraw();
  }
}

function redraw() {
  drawView();
  drawMask();
  updateZoomUi();
  updateCursorSize();
}

function level(bitmap) {
  // a copy of `bitmap` near the drawn size: downscaling a 24 MP photo on every frame is slow without a GPU
  if (!bitmap) return null;
  const wanted = Math.max(state.zoom * ratio(), 1 / 64);
  if (wanted >= 0.5) return bitmap;
  let levels = state.levels.get(bitmap);
  if (!levels) {
    levels = {};
    state.levels.set(bitmap, levels);
  }
  const factor = 2 ** Math.floor(Math.log2(1 / wanted)); // 2, 4, 8, ...: at least the drawn size
  if (levels[factor] === undefined) {
    levels[factor] = null; // being made
    createImageBitmap(bitmap, {
      resizeWidth: Math.max(1, Math.round(bitmap.width / factor)),
      resizeHeight: Math.max(1, Math.round(bitmap.height / factor)),
      resizeQuality: "high",
    }).then((scaled) => {
      levels[factor] = scaled;
      drawView();
    });
  }
  return levels[factor] || bitmap;
}

function viewTransform(ctx) {
  const r = ratio();
  ctx.setTransform(r * state.zoom, 0, 0, r * state.zoom, r * state.panX, r * state.panY);
}

function drawBitmap(ctx, bitmap) {
  const source = level(bitmap);
  ctx.drawImage(source, 0, 0, source.width, source.height, 0, 0, state.width, state.height);
}

function editBitmap() {
  return state.base === "result" && state.result?.bitmap ? state.result.bitmap : state.bitmap;
}

function drawView() {
  const canvas = $("view");
  const ctx = canvas.getContext("2d");
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!state.bitmap) return;
  viewTransform(ctx);
  ctx.imageSmoothingEnabled = state.zoom < 2; // from 200% on, show the photo's pixels as they are
  ctx.imageSmoothingQuality = "high";
  const after = state.view !== "edit" ? state.result?.bitmap : null;
  if (!after) {
    drawBitmap(ctx, editBitmap());
  } else if (state.view === "result") {
    drawBitmap(ctx, after);
  } else {
    // compare: before on the left of the split, after on the right, both through the same transform
    drawBitmap(ctx, after);
    ctx.save();
    ctx.beginPath();
    ctx.rect(0, 0, state.split * state.width, state.height);
    ctx.clip();
    drawBitmap(ctx, state.result.source);
    ctx.restore();
  }
  const comparing = Boolean(after) && state.view === "compare";
  const line = $("split-line");
  line.hidden = !comparing;
  const splitX = state.panX + state.split * state.width * state.zoom;
  line.style.left = `${splitX}px`;
  line.style.top = `${Math.max(0, state.panY)}px`;
  line.style.height = `${Math.min(stageSize().h, state.panY + state.height * state.zoom) - Math.max(0, state.panY)}px`;
  $("label-before").hidden = !comparing || state.split < 0.08;
  $("label-after").hidden = !after || (comparing && state.split > 0.92);
  $("overlay").classList.toggle("hidden-paint", state.view !== "edit");
  $("stage").dataset.view = state.view;
}

function strokeWidth(stroke) {
  // growing widens painted strokes and narrows erasing ones: the overlay shows exactly the mask that is sent
  const grow = stroke.erase ? -state.grow : state.grow;
  return Math.max(0, stroke.size + 2 * grow);
}

function paintStroke(ctx, stroke, colour, eraseColour) {
  // eraseColour null erases to transparency (display); otherwise paint with colour/eraseColour (full-res mask)
  const width = strokeWidth(stroke);
  if (width <= 0) return;
  ctx.save();
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.lineWidth = width;
  if (eraseColour === null) {
    ctx.globalCompositeOperation = stroke.erase ? "destination-out" : "source-over";
    ctx.strokeStyle = ctx.fillStyle = colour;
  } else {
    ctx.strokeStyle = ctx.fillStyle = stroke.erase ? eraseColour : colour;
  }
  const points = stroke.points;
  ctx.beginPath();
  if (points.length === 1) {
    ctx.arc(points[0][0], points[0][1], width / 2, 0, 2 * Math.PI);
    ctx.fill();
  } else {
    ctx.moveTo(points[0][0], points[0][1]);
    for (const [x, y] of points.slice(1)) ctx.lineTo(x, y);
    ctx.stroke();
  }
  ctx.restore();
}

function replay(ctx, background, colour, eraseColour) {
  // ctx's transform maps photo pixels; background fills the photo's area (for the full-resolution mask)
  const clear = () => {
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, ctx.canvas.width, ctx.canvas.height);
    ctx.restore();
    if (background) {
      ctx.fillStyle = background;
      ctx.fillRect(0, 0, state.width, state.height);
    }
  };
  clear();
  for (const action of state.actions) {
    if (action.kind === "clear") clear();
    else paintStroke(ctx, action, colour, eraseColour);
  }
}

function drawMask() {
  const canvas = $("overlay");
  const ctx = canvas.getContext("2d");
  viewTransform(ctx);
  replay(ctx, null, MASK_COLOUR, null);
  if (state.stroke) paintStroke(ctx, state.stroke, MASK_COLOUR, null);
  updateButtons();
}

function hasPaint() {
  // the mask at up to 2048 px a side tells whether anything painted is left after erasing and shrinking
  if (!state.actions.length) return false;
  const scale = Math.min(1, 2048 / Math.max(state.width, state.height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(state.width * scale));
  canvas.height = Math.max(1, Math.round(state.height * scale));
  const ctx = canvas.getContext("2d");
  ctx.setTransform(scale, 0, 0, scale, 0, 0);
  replay(ctx, null, "#fff", null);
  const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) return true;
  return false;
}

function maskCentre() {
  // the middle of the painted strokes, as a fraction of the photo's width: where the compare split starts
  let low = Infinity;
  let high = -Infinity;
  for (const action of state.actions) {
    if (action.kind === "clear") {
      [low, high] = [Infinity, -Infinity];
    } else if (!action.erase) {
      for (const [x] of action.points) [low, high] = [Math.min(low, x), Math.max(high, x)];
    }
  }
  return Number.isFinite(low) ? Math.min(1, Math.max(0, (low + high) / 2 / state.width)) : 0.5;
}

function updateButtons() {
  const lastIsClear = state.actions.at(-1)?.kind === "clear";
  $("undo").disabled = !state.actions.length || state.running;
  $("redo").disabled = !state.undone.length || state.running;
  $("clear").disabled = !state.actions.length || lastIsClear || state.running;
  $("run").disabled = !state.bitmap || state.running || !$("method").value;
  $("run").hidden = state.running;
  $("cancel").hidden = !state.running;
}

function updateZoomUi() {
  $("zoom-value").textContent = `${Math.round(state.zoom * 100)}%`;
  $("zoom-in").disabled = state.zoom >= MAX_ZOOM - 1e-9;
  $("zoom-out").disabled = state.zoom <= minZoom() + 1e-9;
  $("stage").dataset.zoom = state.zoom.toFixed(4);
}

function updateCursorSize() {
  const size = Number($("brush-size").value);
  $("brush-size-value").textContent = `${size} px`;
  $("brush-photo-size").textContent = state.bitmap
    ? `On the photo: ${Math.max(1, Math.round(size / state.zoom)).toLocaleString()} px at ${Math.round(state.zoom * 100)}%`
    : "";
  const cursor = $("cursor");
  const shown = size + 2 * (state.erase ? -state.grow : state.grow) * state.zoom;
  cursor.style.width = cursor.style.height = `${Math.max(2, shown)}px`;
  cursor.classList.toggle("eraser", state.erase);
}

function moveCursor(event) {
  const cursor = $("cursor");
  const [x, y] = stagePoint(event);
  state.lastPointer = [x, y];
  cursor.hidden = state.view !== "edit" || event.pointerType === "touch" || state.panning !== null || state.spaceDown;
  cursor.style.left = `${x}px`;
  cursor.style.top = `${y}px`;
}

// ---------------------------------------------------------------------------------------------- pointer input

function pointerDistance() {
  const [a, b] = [...state.pointers.values()];
  return { distance: Math.hypot(a[0] - b[0], a[1] - b[1]), mid: [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2] };
}

function onPointerDown(event) {
  if (!state.bitmap) return;
  event.preventDefault();
  $("overlay").setPointerCapture(event.pointerId);
  state.pointers.set(event.pointerId, stagePoint(event));
  if (state.pointers.size === 2) {
    // two fingers: pinch and pan; a stroke the first finger began is dropped
    state.stroke = null;
    state.panning = null;
    state.splitting = false;
    const { distance, mid } = pointerDistance();
    state.gesture = { distance, mid, zoom: state.zoom, panX: state.panX, panY: state.panY };
    drawMask();
    return;
  }
  if (state.pointers.size > 2 || state.gesture) return;
  const [x, y] = stagePoint(event);
  if (event.button === 1 || state.spaceDown || (state.view === "result" && event.button === 0)) {
    state.panning = { x, y, panX: state.panX, panY: state.panY };
    $("stage").classList.add("panning");
    return;
  }
  if (event.button !== 0) return;
  if (state.view === "compare") {
    state.splitting = true;
    moveSplit(event);
    return;
  }
  if (state.view !== "edit" || state.running) return;
  hideError();
  state.stroke = { kind: "stroke", size: Number($("brush-size").value) / state.zoom, erase: state.erase };
  state.stroke.points = [photoPoint(event)];
  drawMask();
}

function onPointerMove(event) {
  moveCursor(event);
  if (!state.pointers.has(event.pointerId)) return;
  state.pointers.set(event.pointerId, stagePoint(event));
  if (state.gesture && state.pointers.size === 2) {
    const { distance, mid } = pointerDistance();
    const g = state.gesture;
    const zoom = Math.min(MAX_ZOOM, Math.max(minZoom(), (g.zoom * distance) / Math.max(1, g.distance)));
    // the photo point under the fingers' first midpoint follows the midpoint
    const px = (g.mid[0] - g.panX) / g.zoom;
    const py = (g.mid[1] - g.panY) / g.zoom;
    Object.assign(state, { zoom, panX: mid[0] - px * zoom, panY: mid[1] - py * zoom, fitted: false });
    clampPan();
    redraw();
  } else if (state.panning) {
    const [x, y] = stagePoint(event);
    state.panX = state.panning.panX + x - state.panning.x;
    state.panY = state.panning.panY + y - state.panning.y;
    state.fitted = false;
    clampPan();
    redraw();
  } else if (state.splitting) {
    moveSplit(event);
  } else if (state.stroke) {
    const ctx = $("overlay").getContext("2d");
    viewTransform(ctx);
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    for (const e of events.length ? events : [event]) {
      const point = photoPoint(e);
      const last = state.stroke.points.at(-1);
      state.stroke.points.push(point);
      paintStroke(ctx, { ...state.stroke, points: [last, point] }, MASK_COLOUR, null);
    }
  }
}

function onPointerUp(event) {
  state.pointers.delete(event.pointerId);
  if (state.gesture) {
    if (state.pointers.size === 0) state.gesture = null; // no stroke until every finger is up
    return;
  }
  state.panning = null;
  state.splitting = false;
  $("stage").classList.remove("panning");
  if (!state.stroke) return;
  state.actions.push(state.stroke);
  state.undone = [];
  state.stroke = null;
  drawMask(); // a full replay keeps overlapping segments of one stroke from stacking alpha unevenly
}

function onWheel(event) {
  if (!state.bitmap) return;
  event.preventDefault();
  const [x, y] = stagePoint(event);
  // a trackpad pinch arrives as a wheel event with ctrlKey and small deltas
  const speed = event.ctrlKey ? 0.01 : 0.0015;
  const delta = event.deltaMode === 1 ? event.deltaY * 16 : event.deltaY;
  zoomTo(state.zoom * Math.exp(-delta * speed), x, y);
}

function moveSplit(event) {
  const [x] = photoPoint(event);
  state.split = Math.min(1, Math.max(0, x / state.width));
  drawView();
}

// ---------------------------------------------------------------------------------------------- editing

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

function setGrow(value) {
  state.grow = Number(value);
  $("grow").value = state.grow;
  $("grow-value").textContent = `${state.grow > 0 ? "+" : ""}${state.grow} px`;
  if (state.view !== "edit" && state.bitmap) setView("edit"); // the preview is the overlay
  drawMask();
  updateCursorSize();
}

function setView(view) {
  if (view !== "edit" && !state.result?.bitmap) view = "edit";
  state.view = view;
  for (const name of ["edit", "result", "compare"]) $(`view-${name}`).classList.toggle("active", name === view);
  $("cursor").hidden = true;
  drawView();
  drawMask();
}

function setBase(base) {
  base = base === "result" && state.result?.bitmap ? "result" : "original";
  if (base === "result" && state.base !== "result" && state.actions.length && state.view !== "result") {
    // the result already lacks what was painted: painting on it starts afresh (Undo brings the strokes back)
    clearMask();
    setStatus("Paint what else should go on the result, then press the button.");
  }
  state.base = base;
  $("base-original").classList.toggle("active", state.base === "original");
  $("base-result").classList.toggle("active", state.base === "result");
  if (state.view === "edit") drawView();
}

// ---------------------------------------------------------------------------------------------- running

async function fullResolutionMask() {
  const canvas = document.createElement("canvas");
  canvas.width = state.width;
  canvas.height = state.height;
  const ctx = canvas.getContext("2d");
  if (!ctx) throw new Error(`the browser cannot make a ${state.width}×${state.height} canvas for the mask`);
  replay(ctx, "#000", "#fff", "#000");
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
  canvas.width = canvas.height = 0; // give the memory back now
  if (!blob) throw new Error(`the browser could not encode a ${state.width}×${state.height} mask`);
  return blob;
}

function upload(form, onProgress) {
  // XMLHttpRequest, because fetch does not report upload progress
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    state.upload = request;
    request.open("POST", "/api/jobs");
    request.responseType = "json";
    request.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    request.onload = () => resolve(request);
    request.onerror = () => reject(new Error("the upload failed: the server did not answer"));
    request.onabort = () => reject(new Error("cancelled"));
    request.send(form);
  }).finally(() => {
    state.upload = null;
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

function sourceImage() {
  // what the run fills: the photo as opened, or the last result (the user's choice)
  if (state.base === "result" && state.result) {
    const type = state.result.blob.type || "image/png";
    return { file: new File([state.result.blob], state.file.name, { type }), bitmap: state.result.bitmap };
  }
  return { file: state.file, bitmap: state.bitmap };
}

async function run() {
  if (!state.bitmap || state.running) return;
  hideError();
  if (!hasPaint()) {
    showError("Paint over the part of the photo to remove first.");
    return;
  }
  state.running = true;
  state.cancelled = false;
  document.body.dataset.state = "running";
  updateButtons();
  const started = performance.now();
  const elapsed = () => `${((performance.now() - started) / 1000).toFixed(1)} s`;
  const source = sourceImage();
  try {
    setProgress(0);
    setStatus("Preparing the mask…");
    const mask = await fullResolutionMask();
    const form = new FormData();
    form.append("image", source.file, source.file.name);
    form.append("mask", mask, "mask.png");
    form.append("method", $("method").value);
    form.append("options", JSON.stringify(collectOptions()));
    if (state.cancelled) throw new Error("cancelled");
    const request = await upload(form, (fraction) => {
      setProgress(0.3 * fraction);
      setStatus(`Uploading ${Math.round(fraction * 100)}%`);
    });
    if (request.status !== 202) throw new Error(describeRejection(request));
    state.job = request.response;
    if (state.cancelled) await cancelJob();
    const status = await poll(state.job.status_url, elapsed);
    if (status.state === "cancelled" || state.cancelled) throw new Error("cancelled");
    if (status.state === "failed") throw new Error(status.error || "the job failed");
    setProgress(0.95);
    setStatus("Downloading the result…");
    const response = await fetch(state.job.result_url);
    if (!response.ok) throw new Error(await errorText(response));
    await showResult(response, source.bitmap);
    setProgress(1);
    const filled = Number(response.headers.get("X-Hrinpaint-Filled-Pixels") || 0);
    setStatus(
      `Done in ${elapsed()} with ${response.headers.get("X-Hrinpaint-Method")}: ${filled.toLocaleString()} pixels filled.`,
    );
    document.body.dataset.state = "done";
  } catch (error) {
    setProgress(null);
    if (state.cancelled || error.message === "cancelled") {
      setStatus(`Cancelled after ${elapsed()}; the server has stopped the job.`);
      document.body.dataset.state = state.result ? "done" : "ready";
    } else {
      setStatus("");
      showError(error.message.charAt(0).toUpperCase() + error.message.slice(1));
      document.body.dataset.state = "error";
    }
  } finally {
    state.running = false;
    state.job = null;
    updateButtons();
  }
}

async function cancelJob() {
  const job = state.job;
  if (!job) return;
  try {
    await fetch(job.status_url, { method: "DELETE" });
  } catch (_) {
    /* the poll reports a lost connection */
  }
}

async function cancel() {
  if (!state.running || state.cancelled) return;
  state.cancelled = true;
  setStatus("Cancelling…");
  state.upload?.abort();
  await cancelJob();
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
    if (["done", "failed", "cancelled"].includes(status.state)) return status;
    if (state.cancelled) {
      setStatus("Cancelling…");
    } else if (status.state === "queued") {
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
  // RFC 5987 filename* keeps non-ASCII names; filename is the ASCII stand-in
  const header = response.headers.get("Content-Disposition") || "";
  const extended = /filename\*=UTF-8''([^;]+)/i.exec(header);
  if (extended) {
    try {
      return decodeURIComponent(extended[1]);
    } catch (_) {
      /* fall back to the plain name */
    }
  }
  const match = /filename="([^"]+)"/.exec(header);
  return match ? match[1] : "hrinpaint_result";
}

async function showResult(response, sourceBitmap) {
  const blob = await response.blob();
  const previous = state.result;
  const url = URL.createObjectURL(blob);
  let bitmap = null;
  try {
    bitmap = await createImageBitmap(blob, { imageOrientation: "from-image" });
  } catch (_) {
    showError("The result is ready, but this browser cannot display its format; download it below.");
  }
  if (previous) {
    URL.revokeObjectURL(previous.url);
    if (previous.bitmap !== sourceBitmap) previous.bitmap?.close();
  }
  state.result = { blob, bitmap, url, filename: downloadName(response), source: sourceBitmap };
  const link = $("download");
  link.href = url;
  link.download = state.result.filename;
  const kind = (blob.type.split("/")[1] || "image").toUpperCase();
  link.textContent = `Download (${kind}, ${(blob.size / 2 ** 20).toFixed(1)} MB)`;
  link.title = `Save ${state.result.filename} at full resolution`;
  link.hidden = false;
  $("result-section").hidden = false;
  $("view-bar").hidden = !bitmap;
  $("base-result").disabled = !bitmap;
  setBase(state.base);
  state.split = maskCentre(); // the split starts over the edit
  setView(bitmap ? "compare" : "edit");
}

// ---------------------------------------------------------------------------------------------- wiring

function cycleView() {
  if (!state.result?.bitmap) return;
  const order = ["edit", "result", "compare"];
  setView(order[(order.indexOf(state.view) + 1) % order.length]);
}

function onKeyDown(e) {
  if ($("help").open) return; // the dialog handles Esc itself
  if (e.target.closest("input, select, textarea")) return;
  const key = e.key;
  const lower = key.toLowerCase();
  if ((e.ctrlKey || e.metaKey) && lower === "z") {
    e.preventDefault();
    e.shiftKey ? redo() : undo();
  } else if ((e.ctrlKey || e.metaKey) && lower === "y") {
    e.preventDefault();
    redo();
  } else if (e.ctrlKey || e.metaKey || e.altKey) {
    return; // leave the browser's own shortcuts alone
  } else if (key === " ") {
    e.preventDefault();
    if (!state.spaceDown) {
      state.spaceDown = true;
      $("stage").classList.add("pan-ready");
      $("cursor").hidden = true;
    }
  } else if (key === "+" || key === "=") zoomTo(state.zoom * ZOOM_STEP);
  else if (key === "-" || key === "_") zoomTo(state.zoom / ZOOM_STEP);
  else if (key === "0") fit();
  else if (key === "1") zoomTo(1);
  else if (lower === "b") setTool(false);
  else if (lower === "e") setTool(true);
  else if (lower === "v") cycleView();
  else if (key === "?") $("help").showModal();
  else if (key === "Enter" && e.target === document.body) run();
  else if (key === "Escape") cancel();
  else if (key === "[" || key === "]") {
    const slider = $("brush-size");
    slider.value = Number(slider.value) + (key === "]" ? 5 : -5);
    updateCursorSize();
  }
}

function onKeyUp(e) {
  if (e.key === " ") {
    state.spaceDown = false;
    $("stage").classList.remove("pan-ready");
  }
}

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
  overlay.addEventListener("wheel", onWheel, { passive: false });
  overlay.addEventListener("auxclick", (e) => e.preventDefault()); // middle-click must not paste or scroll
  overlay.addEventListener("contextmenu", (e) => state.panning && e.preventDefault());

  $("brush-size").addEventListener("input", updateCursorSize);
  $("grow").addEventListener("input", (e) => setGrow(e.target.value));
  $("tool-brush").addEventListener("click", () => setTool(false));
  $("tool-eraser").addEventListener("click", () => setTool(true));
  $("undo").addEventListener("click", undo);
  $("redo").addEventListener("click", redo);
  $("clear").addEventListener("click", clearMask);
  $("method").addEventListener("change", renderMethodOptions);
  $("run").addEventListener("click", run);
  $("cancel").addEventListener("click", cancel);
  $("view-edit").addEventListener("click", () => setView("edit"));
  $("view-result").addEventListener("click", () => setView("result"));
  $("view-compare").addEventListener("click", () => setView("compare"));
  $("base-original").addEventListener("click", () => setBase("original"));
  $("base-result").addEventListener("click", () => {
    setBase("result");
    setView("edit");
  });
  $("zoom-in").addEventListener("click", () => zoomTo(state.zoom * ZOOM_STEP, ...centre()));
  $("zoom-out").addEventListener("click", () => zoomTo(state.zoom / ZOOM_STEP, ...centre()));
  $("zoom-value").addEventListener("click", fit);
  $("zoom-100").addEventListener("click", () => zoomTo(1, ...centre()));
  $("error-close").addEventListener("click", hideError);
  $("help-button").addEventListener("click", () => $("help").showModal());
  $("panel-toggle").addEventListener("click", () => {
    const open = !$("panel").classList.contains("open");
    $("panel").classList.toggle("open", open);
    $("panel-toggle").setAttribute("aria-expanded", String(open));
  });

  window.addEventListener("keydown", onKeyDown);
  window.addEventListener("keyup", onKeyUp);
  window.addEventListener("blur", () => onKeyUp({ key: " " }));
  // closing the tab stops the job on the server too
  window.addEventListener("pagehide", () => state.job && fetch(state.job.status_url, { method: "DELETE", keepalive: true }));
  new ResizeObserver(() => layout()).observe(wrap);
  window.addEventListener("unhandledrejection", (e) => showError(String(e.reason?.message || e.reason)));
}

function centre() {
  const { w, h } = stageSize();
  return [w / 2, h / 2];
}

wire();
updateCursorSize();
updateButtons();
loadCatalogue();
