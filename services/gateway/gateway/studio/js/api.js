// The admin API on this origin: cookies go along by themselves (same origin), unsafe methods
// carry X-CSRFToken = the csrftoken cookie, and a 401 is answered once by a token refresh.

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export function csrfToken() {
  for (const part of document.cookie.split(";")) {
    const [name, ...value] = part.trim().split("=");
    if (name === "csrftoken") return decodeURIComponent(value.join("="));
  }
  return "";
}

/** An answer other than 2xx; `body` is its JSON (`{"detail": ...}` or field errors). */
export class ApiError extends Error {
  constructor(status, body) {
    super(messagesOf(body).join(" ") || `The server answered ${status}.`);
    this.status = status;
    this.body = body;
  }

  /** `{field: [messages]}` of a 400, without `detail`. */
  get fields() {
    const fields = {};
    if (this.body && typeof this.body === "object" && !Array.isArray(this.body)) {
      for (const [key, value] of Object.entries(this.body)) {
        if (key !== "detail") fields[key] = messagesOf(value);
      }
    }
    return fields;
  }
}

/** Every message string of an error body, in order. */
export function messagesOf(body) {
  if (typeof body === "string") return [body];
  if (Array.isArray(body)) return body.flatMap(messagesOf);
  if (body && typeof body === "object") return Object.values(body).flatMap(messagesOf);
  return [];
}

async function readJson(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return { detail: `The server answered ${response.status} without JSON.` };
  }
}

let refreshing = null;

/** Renews the access token cookie; true when the refresh token was still good. */
export function refreshToken() {
  if (!refreshing) {
    refreshing = fetch("/api/token/refresh/", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
    })
      .then((response) => response.ok)
      .catch(() => false)
      .finally(() => {
        refreshing = null;
      });
  }
  return refreshing;
}

/** Listeners are told when the session is gone (a 401 the refresh could not fix). */
export const session = new EventTarget();

/**
 * `api(path, {method, json, form})`: the parsed JSON of a 2xx (null for a 204), else throws
 * an ApiError. `form` is a FormData (multipart), `json` any JSON value.
 */
export async function api(path, { method = "GET", json, form, retried = false } = {}) {
  const headers = { Accept: "application/json" };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form;
  }
  if (UNSAFE.has(method)) headers["X-CSRFToken"] = csrfToken();
  const response = await fetch(path, { method, headers, body, credentials: "same-origin" });
  // no csrftoken cookie: no refresh cookie either (they live together), so nothing to renew
  if (response.status === 401 && !retried && csrfToken() && !path.startsWith("/api/login")) {
    if (await refreshToken()) return api(path, { method, json, form, retried: true });
    session.dispatchEvent(new Event("expired"));
  }
  if (!response.ok) throw new ApiError(response.status, await readJson(response));
  return response.status === 204 ? null : readJson(response);
}
