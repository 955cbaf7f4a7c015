// The console's only way to the server: the public HTTP API (/api/v1), with the session
// cookie set by POST /api/v1/session. Every change carries the session's CSRF token.

export const API = "/api/v1";

let csrfToken = null;
let onLoggedOut = () => {};

export function setCsrf(token) {
  csrfToken = token;
}

export function whenLoggedOut(fn) {
  onLoggedOut = fn;
}

/** An API error: the problem+json body (detail, hint, status, extra). */
export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && problem.detail) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
    this.hint = this.problem.hint || "";
  }
}

/**
 * Call the API. `json` sends a JSON body, `form` a FormData, `body` anything else.
 * Returns the decoded JSON, a Blob for other content, null for 204.
 */
export async function api(path, { method = "GET", json, form, body, headers = {}, quiet } = {}) {
  const h = { ...headers };
  if (!["GET", "HEAD"].includes(method) && csrfToken) h["X-CSRF-Token"] = csrfToken;
  let payload = body;
  if (json !== undefined) {
    h["Content-Type"] = "application/json";
    payload = JSON.stringify(json);
  }
  if (form !== undefined) payload = form;
  let response;
  try {
    response = await fetch(API + path, {
      method,
      headers: h,
      body: payload,
      credentials: "same-origin",
    });
  } catch (err) {
    throw new ApiError(0, { detail: "the server does not answer", hint: "is lanfax serve running?" });
  }
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json() : await response.blob();
  if (!response.ok) {
    const error = new ApiError(response.status, type.includes("json") ? data : null);
    if (response.status === 401 && !quiet) onLoggedOut(error);
    throw error;
  }
  return data;
}

/** Which form field an API error is about, from the words of its message. */
export function fieldOf(error) {
  const text = (error.problem && error.problem.detail) || error.message || "";
  if (/^recipients|recipient_number|number/.test(text)) return "recipients";
  if (/^cover_page|cover page/.test(text)) return "cover";
  if (/^file part|document|upload|convert|format/i.test(text)) return "files";
  if (/schedule/.test(text)) return "schedule";
  if (/submit_(low|normal|high)|priority/.test(text)) return "priority";
  return "form";
}

/** A human date from the API's ISO 8601 text. */
export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString();
}

export function download(path) {
  return API + path;
}
