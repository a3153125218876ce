// hrinpaint page, the entry module: open a photo, paint the hole, run a method, compare, download. Plain ES
// modules, no build step (see state.js for the list).

import { $, ZOOM_STEP, hideError, setProgress, setStatus, showError, state } from "./state.js";
import { cancelJob, describeRejection, downloadName, errorText, poll, upload } from "./api.js";
import { collectOptions, loadCatalogue, renderMethodOptions } from "./options.js";
import {
  centre,
  fit,
  fullResolutionMask,
  hasPaint,
  layout,
  maskCentre,
  moveCursor,
  updateButtons,
  updateCursorSize,
  zoomTo,
} from "./canvas.js";
import {
  clearMask,
  onPointerDown,
  onPointerMove,
  onPointerUp,
  onWheel,
  redo,
  setBase,
  setGrow,
  setTool,
  setView,
  undo,
} from "./paint.js";

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

async function cancel() {
  if (!state.running || state.cancelled) return;
  state.cancelled = true;
  setStatus("Cancelling…");
  state.upload?.abort();
  await cancelJob();
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

window.state = state; // for the browser console and the browser tests
wire();
updateCursorSize();
updateButtons();
loadCatalogue();
