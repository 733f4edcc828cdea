// What every page of the Videoflix browser client shares: the API base URL, fetch with
// credentials and a JSON content type on every call (GETs too, so the browser preflights),
// the CSRF token read from document.cookie, and messages inserted as HTML (see CONTRACT.md).
"use strict";

// The real client hard-codes "http://127.0.0.1:8000/api/"; the tests generate /config.js.
const API_BASE_URL = (window.VIDEOFLIX_CONFIG && window.VIDEOFLIX_CONFIG.API_BASE_URL) ||
  "http://127.0.0.1:8000/api/";

// Resolves to the Response; a request the browser refuses (CORS, network) rejects.
function apiFetch(path, options = {}) {
  const init = {
    method: options.method || "GET",
    credentials: "include",
    headers: { "Content-Type": "application/json", ...(options.headers || {}) },
  };
  if (options.body !== undefined) {
    init.body = JSON.stringify(options.body);
  }
  return fetch(API_BASE_URL + path, init);
}

// Like the real client: throws (TypeError) before anything is sent when there is no cookie.
function getCsrfToken() {
  return document.cookie.split("csrftoken=")[1].split(";")[0];
}

// The client only tells 2xx from non-2xx and calls response.json() whatever the status.
async function readJson(response) {
  try {
    return { ok: response.ok, status: response.status, data: await response.json() };
  } catch (error) {
    return { ok: false, status: response.status, data: { detail: "Unexpected answer from the server." } };
  }
}

// Every scalar leaf of an answer, one line each, inserted as HTML.
function messageLines(data) {
  const lines = [];
  (function walk(value) {
    if (value === null || value === undefined) return;
    if (Array.isArray(value)) value.forEach(walk);
    else if (typeof value === "object") Object.values(value).forEach(walk);
    else lines.push(String(value));
  })(data);
  return lines;
}

function showMessages(data, kind) {
  const box = document.getElementById("messages");
  box.innerHTML = messageLines(data).join("<br>");
  box.dataset.kind = kind;  // "error" or "success": what the tests wait for
}

function queryParam(name) {
  return new URLSearchParams(window.location.search).get(name);
}

// For the pages' handlers: a rejected fetch shows a message instead of vanishing silently.
async function apiCall(path, options = {}) {
  try {
    return await readJson(await apiFetch(path, options));
  } catch (error) {
    return { ok: false, status: 0, data: { detail: "The server cannot be reached." } };
  }
}
