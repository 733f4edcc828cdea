// Live status: the admin API's server-sent events (`/api/admin/events/`). Each `video` event
// carries one video as the admin API shows it, `deleted` its id. On every (re)connection the
// list is fetched again, so whatever changed while the stream was down is caught up.

import { api, session } from "./api.js";
import { byId } from "./dom.js";
import { removeVideo, showAll, upsertVideo } from "./videos.js";

const RECONNECT_MS = 2000;
let source = null;
let timer = null;

function state(text, kind) {
  const element = byId("live-state");
  element.textContent = text;
  element.dataset.kind = kind;
}

function parse(event) {
  try {
    return JSON.parse(event.data);
  } catch {
    return null;
  }
}

export function startLive() {
  stopLive();
  source = new EventSource("/api/admin/events/");
  source.addEventListener("open", () => {
    state("Live", "live");
    api("/api/admin/videos/").then(showAll, () => {});
  });
  source.addEventListener("video", (event) => {
    const video = parse(event);
    if (video && typeof video.id === "number") upsertVideo(video);
  });
  source.addEventListener("deleted", (event) => {
    const body = parse(event);
    if (body && typeof body.id === "number") removeVideo(body.id);
  });
  source.addEventListener("error", () => {
    if (source && source.readyState === EventSource.CONNECTING) {
      state("Reconnecting…", "down"); // the browser retries by itself
      return;
    }
    // closed: an HTTP error (401 when the access token expired, 403, 5xx)
    state("Live updates interrupted; reconnecting…", "down");
    const closed = source;
    closed.close();
    reconnectLater(closed);
  });
}

/** After a refused stream: the list call refreshes the token on a 401 (or ends the session);
 * once it answers, the stream is opened again. */
function reconnectLater(closed) {
  timer = setTimeout(async () => {
    timer = null;
    if (closed !== source) return;
    try {
      showAll(await api("/api/admin/videos/"));
      startLive();
    } catch (error) {
      if (error.status === 403) session.dispatchEvent(new Event("refused"));
      else if (error.status !== 401) reconnectLater(closed);
    }
  }, RECONNECT_MS);
}

export function stopLive() {
  if (timer) clearTimeout(timer);
  timer = null;
  if (source) source.close();
  source = null;
}
