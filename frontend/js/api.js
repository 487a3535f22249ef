// @ts-check
/**
 * The REST API, with every failure turned into a readable Error (the server's `detail` sentence
 * when it sends one), never swallowed.
 */

/**
 * A failed request: the server's English sentence with the status, and the stable `code` the
 * server sends beside it (the page says a code in the chosen language: i18n.js errText).
 */
export class ApiError extends Error {
  /**
   * @param {string} message @param {number} status @param {string|null} [code]
   * @param {number|null} [retryAfter] seconds, from the answer's Retry-After (a 429, a 503)
   */
  constructor(message, status, code = null, retryAfter = null) {
    super(message); this.status = status; this.code = code; this.retryAfter = retryAfter;
    /** @type {string|null} the server's sentence alone (without the status), where kept */
    this.detail = null;
  }
}

/** A Retry-After in seconds (a number of seconds; a date is not sent by this server). @param {string|null} v */
const seconds = (v) => (v != null && /^\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : null);

/**
 * @param {string} path @param {{method?: string, body?: any, signal?: AbortSignal, idempotent?: boolean}} [opt]
 *   idempotent: a POST that changes nothing (a check), asked again when the server is busy, as GETs are
 * @returns {Promise<any>}
 */
export async function api(path, opt = {}) {
  for (let tries = 0; ; tries++) {
    try {
      return await once(path, opt);
    } catch (e) {
      // The heavy pool refused at once (503 busy: the job never ran), e.g. when a crowd of pages
      // moves to the same run together: a read, or a check that changes nothing, is asked again
      // after the server's Retry-After (at most twice, at most 3 s each).
      const again = e instanceof ApiError && e.code === "busy" && tries < 2 && ((opt.method ?? "GET") === "GET" || opt.idempotent);
      if (!again) throw e;
      await new Promise((r) => setTimeout(r, 1000 * Math.min(3, e.retryAfter ?? 1)));
    }
  }
}

/** One request (see api). @param {string} path @param {{method?: string, body?: any, signal?: AbortSignal}} opt */
async function once(path, opt) {
  /** @type {RequestInit} */
  const init = { method: opt.method ?? "GET", headers: {}, signal: opt.signal };
  if (opt.body !== undefined) {
    init.body = JSON.stringify(opt.body);
    init.headers = { "content-type": "application/json" };
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(`cannot reach the server (${init.method} ${path}): ${/** @type {Error} */ (e).message}`, 0, "unreachable");
  }
  const text = await res.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = null; }
  if (!res.ok) {
    let detail = body?.detail ?? text ?? res.statusText;
    if (Array.isArray(detail)) detail = detail.map((d) => d.msg ?? JSON.stringify(d)).join("; ");
    throw new ApiError(`${detail || res.statusText} (${res.status})`, res.status, typeof body?.code === "string" ? body.code : null,
      seconds(res.headers.get("retry-after")));
  }
  return body;
}

export const getRuns = () => api("/api/runs");
/** The runs that wait for a slot, each with its queue position. */
export const getQueued = () => api("/api/runs?status=queued");
/** @param {string} id */
export const getRun = (id) => api(`/api/runs/${encodeURIComponent(id)}`);
/** @param {string} id */
export const getMetrics = (id) => api(`/api/runs/${encodeURIComponent(id)}/metrics`);
/** @param {any} body */
export const startRun = (body) => api("/api/runs", { method: "POST", body });
/** @param {string} id @param {"pause"|"resume"|"step"|"stop"} action */
export const control = (id, action) => api(`/api/runs/${encodeURIComponent(id)}/${action}`, { method: "POST" });
/** @param {string} id @param {{name?: string, lr?: number, momentum?: number, beta1?: number, beta2?: number, weight_decay?: number}} values */
export const patchRun = (id, values) => api(`/api/runs/${encodeURIComponent(id)}`, { method: "PATCH", body: values });
/** @param {any} spec */
export const checkArchitecture = (spec) => api("/api/architecture", { method: "POST", body: spec, idempotent: true });
export const getModels = () => api("/api/models");
/** The presets and the layer types, costs and limits the page builds its editor from. */
export const getPresets = () => api("/api/presets");
export const getLayers = () => api("/api/layers");
export const getProbes = () => api("/api/probes");
/** What a run has learned, from one of its checkpoints (default: the latest). @param {string} id @param {string} [checkpoint] */
export const getLearned = (id, checkpoint) => api(`/api/runs/${encodeURIComponent(id)}/learned${checkpoint ? `?checkpoint=${encodeURIComponent(checkpoint)}` : ""}`);
/** A conv layer's exact kernels at a live frame's step (404 once not kept). @param {string} id @param {number} step @param {number} layer */
export const getExactKernels = (id, step, layer) => api(`/api/runs/${encodeURIComponent(id)}/kernels?step=${step}&layer=${layer}`);
/** A page of a confusion-matrix cell's digits. @param {string} id @param {number} epoch @param {number} label @param {number} predicted @param {number} offset */
export const getCellDigits = (id, epoch, label, predicted, offset) =>
  api(`/api/runs/${encodeURIComponent(id)}/epochs/${epoch}/digits?label=${label}&predicted=${predicted}&offset=${offset}&limit=48`);
/** Every layer's exact output for one digit and the dense biases (/api/explain/activations). @param {any} body */
export const explainActivations = (body) => api("/api/explain/activations", { method: "POST", body });
/** One digit's forward and backward pass, exact (/api/explain). @param {any} body */
export const explain = (body) => api("/api/explain", { method: "POST", body });
/** One conv kernel or pooling map of a digit, explained (/api/explain/conv). @param {any} body */
export const explainMap = (body) => api("/api/explain/conv", { method: "POST", body });
/** One gradient-descent step on a scratch copy (/api/explain/step). @param {any} body */
export const explainStep = (body) => api("/api/explain/step", { method: "POST", body });
/** Label a drawing. @param {{label: number, pixels: number[][], strokes?: number[][][], pad?: number}} body */
export const addMyDigit = (body) => api("/api/mydigits", { method: "POST", body });
export const getMyDigits = () => api("/api/mydigits");
/** @param {number} id @param {number} label */
export const relabelMyDigit = (id, label) => api(`/api/mydigits/${id}`, { method: "PATCH", body: { label } });
/** @param {number} id */
export const deleteMyDigit = (id) => api(`/api/mydigits/${id}`, { method: "DELETE" });
/** @param {string|null} model */
export const evaluateMyDigits = (model) => api("/api/mydigits/evaluate", { method: "POST", body: { model } });

/**
 * Upload files as multipart/form-data (the body is not JSON), with the same error handling.
 * @param {string} path @param {Record<string, Blob>} files
 */
export async function upload(path, files) {
  const form = new FormData();
  // A chosen file keeps its own name (the server's messages name it); other data is named by its field.
  for (const [name, blob] of Object.entries(files)) form.append(name, blob, blob instanceof File ? blob.name : name);
  let res;
  try { res = await fetch(path, { method: "POST", body: form }); } catch (e) {
    throw new ApiError(`cannot reach the server (POST ${path}): ${/** @type {Error} */ (e).message}`, 0, "unreachable");
  }
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(`${body?.detail ?? res.statusText} (${res.status})`, res.status, typeof body?.code === "string" ? body.code : null);
  return body;
}

/**
 * A file to save (GET), with the name the server gives it; a failure is an ApiError with the
 * server's sentence in `detail` — a plain <a download> drops a failed download without a word.
 * @param {string} path @returns {Promise<{blob: Blob, name: string}>}
 */
export async function download(path) {
  let res;
  try { res = await fetch(path); } catch (e) {
    throw new ApiError(`cannot reach the server (GET ${path}): ${/** @type {Error} */ (e).message}`, 0, "unreachable");
  }
  if (!res.ok) {
    const body = await res.json().catch(() => null);
    const detail = typeof body?.detail === "string" ? body.detail : res.statusText;
    const err = new ApiError(`${detail} (${res.status})`, res.status, typeof body?.code === "string" ? body.code : null);
    err.detail = detail;
    throw err;
  }
  const name = /filename="([^"]+)"/.exec(res.headers.get("content-disposition") ?? "")?.[1] ?? path.split("/").pop() ?? "download";
  return { blob: await res.blob(), name };
}
