// The HTTP API: the method catalogue, the upload (with progress), polling a job, cancelling it, error texts.

import { POLL_MS, setProgress, setStatus, showError, state } from "./state.js";

export async function fetchCatalogue() {
  // GET /api/methods, or null after saying why not
  let response;
  try {
    response = await fetch("/api/methods");
  } catch (_) {
    showError("Cannot reach the hrinpaint server. Is `hrinpaint serve` still running?");
    return null;
  }
  if (!response.ok) {
    showError(`Cannot list the methods: ${await errorText(response)}`);
    return null;
  }
  return response.json();
}

function detailText(detail, status, statusText) {
  // FastAPI answers {"detail": "..."} or, for a malformed form, {"detail": [{loc, msg}, ...]}
  const text = Array.isArray(detail)
    ? detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ")
    : detail;
  return text || `${status} ${statusText || "error"}`;
}

export async function errorText(response) {
  let detail = null;
  try {
    detail = (await response.json()).detail;
  } catch (_) {
    /* not JSON */
  }
  return detailText(detail, response.status, response.statusText);
}

export function upload(form, onProgress) {
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

export function describeRejection(request) {
  let text = detailText(request.response?.detail, request.status, request.statusText);
  if (request.status === 503) {
    const wait = request.getResponseHeader("Retry-After");
    text = `The server is busy with other photos. Try again${wait ? ` in about ${wait} s` : " shortly"}.`;
  }
  return text;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export async function cancelJob() {
  const job = state.job;
  if (!job) return;
  try {
    await fetch(job.status_url, { method: "DELETE" });
  } catch (_) {
    /* the poll reports a lost connection */
  }
}

export async function poll(url, elapsed) {
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

export function downloadName(response) {
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
