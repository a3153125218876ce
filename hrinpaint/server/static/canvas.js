// The view: zoom and pan as a transform from photo pixels to the stage, drawing the photo, the result, the
// before/after split and the mask overlay, and the full-resolution mask that is sent.

import { $, MASK_COLOUR, MAX_ZOOM, state } from "./state.js";

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

export function minZoom() {
  return Math.min(fitZoom() / 2, 1);
}

export function clampPan() {
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

export function fit() {
  if (!state.bitmap) return;
  const { w, h } = stageSize();
  state.zoom = fitZoom();
  state.panX = (w - state.width * state.zoom) / 2;
  state.panY = (h - state.height * state.zoom) / 2;
  state.fitted = true;
  redraw();
}

export function zoomTo(zoom, cx, cy) {
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

export function stagePoint(event) {
  const rect = $("stage").getBoundingClientRect();
  return [event.clientX - rect.left, event.clientY - rect.top];
}

export function photoPoint(event) {
  const [x, y] = stagePoint(event);
  return [(x - state.panX) / state.zoom, (y - state.panY) / state.zoom];
}

function ratio() {
  return window.devicePixelRatio || 1;
}

// ---------------------------------------------------------------------------------------------- drawing

export function layout() {
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

export function redraw() {
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

export function viewTransform(ctx) {
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

export function drawView() {
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

export function paintStroke(ctx, stroke, colour, eraseColour) {
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

export function drawMask() {
  const canvas = $("overlay");
  const ctx = canvas.getContext("2d");
  viewTransform(ctx);
  replay(ctx, null, MASK_COLOUR, null);
  if (state.stroke) paintStroke(ctx, state.stroke, MASK_COLOUR, null);
  updateButtons();
}

export function hasPaint() {
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

export function maskCentre() {
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

export function updateButtons() {
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

export function updateCursorSize() {
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

export function moveCursor(event) {
  const cursor = $("cursor");
  const [x, y] = stagePoint(event);
  state.lastPointer = [x, y];
  cursor.hidden = state.view !== "edit" || event.pointerType === "touch" || state.panning !== null || state.spaceDown;
  cursor.style.left = `${x}px`;
  cursor.style.top = `${y}px`;
}

export async function fullResolutionMask() {
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

export function centre() {
  const { w, h } = stageSize();
  return [w / 2, h / 2];
}
