// Pointer input (painting, panning, pinching, moving the split) and editing (undo, redo, clear, brush or
// eraser, grow, the view and what the next run fills).

import { $, MASK_COLOUR, MAX_ZOOM, hideError, setStatus, state } from "./state.js";
import {
  clampPan,
  drawMask,
  drawView,
  minZoom,
  moveCursor,
  paintStroke,
  photoPoint,
  redraw,
  stagePoint,
  updateCursorSize,
  viewTransform,
  zoomTo,
} from "./canvas.js";

// ---------------------------------------------------------------------------------------------- pointer input

function pointerDistance() {
  const [a, b] = [...state.pointers.values()];
  return { distance: Math.hypot(a[0] - b[0], a[1] - b[1]), mid: [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2] };
}

export function onPointerDown(event) {
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

export function onPointerMove(event) {
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

export function onPointerUp(event) {
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

export function onWheel(event) {
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

export function undo() {
  if (!state.actions.length || state.running) return;
  state.undone.push(state.actions.pop());
  drawMask();
}

export function redo() {
  if (!state.undone.length || state.running) return;
  state.actions.push(state.undone.pop());
  drawMask();
}

export function clearMask() {
  if (!state.actions.length || state.actions.at(-1).kind === "clear") return;
  state.actions.push({ kind: "clear" });
  state.undone = [];
  drawMask();
}

export function setTool(erase) {
  state.erase = erase;
  $("tool-brush").classList.toggle("active", !erase);
  $("tool-eraser").classList.toggle("active", erase);
  updateCursorSize();
}

export function setGrow(value) {
  state.grow = Number(value);
  $("grow").value = state.grow;
  $("grow-value").textContent = `${state.grow > 0 ? "+" : ""}${state.grow} px`;
  if (state.view !== "edit" && state.bitmap) setView("edit"); // the preview is the overlay
  drawMask();
  updateCursorSize();
}

export function setView(view) {
  if (view !== "edit" && !state.result?.bitmap) view = "edit";
  state.view = view;
  for (const name of ["edit", "result", "compare"]) $(`view-${name}`).classList.toggle("active", name === view);
  $("cursor").hidden = true;
  drawView();
  drawMask();
}

export function setBase(base) {
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
