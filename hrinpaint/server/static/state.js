// The page's shared state and the status line: one `state` object that every module reads and writes, the
// constants, and the error and progress display.
//
// The page is plain ES modules, no build step: app.js (the entry: opening a photo, running, wiring) imports
// api.js (the HTTP API), options.js (methods and their option forms), canvas.js (the view transform and drawing)
// and paint.js (pointer input and editing); all of them import this one.
//
// Strokes are kept as vectors in the photo's own pixel coordinates, so the mask sent to the server is drawn at
// full resolution whatever the zoom, and undo/redo just replays them. The view is a transform: `zoom` CSS pixels
// per photo pixel and the photo's top-left corner at (`panX`, `panY`) in the stage; the photo, the mask overlay
// and the before/after split are all drawn through it.

export const $ = (id) => document.getElementById(id);
export const MASK_COLOUR = "#ff3d6a";
export const POLL_MS = 250;
export const MAX_ZOOM = 4; // 400%
export const ZOOM_STEP = 1.25;

export const state = {
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

export function showError(message) {
  $("error-text").textContent = message;
  $("error").hidden = false;
}

export function hideError() {
  $("error").hidden = true;
}

export function setStatus(text) {
  $("status").textContent = text;
}

export function setProgress(fraction, indeterminate = false) {
  const box = $("progress");
  box.hidden = fraction === null;
  box.classList.toggle("indeterminate", indeterminate);
  if (fraction !== null) $("progress-bar").style.width = `${Math.round(fraction * 100)}%`;
}
