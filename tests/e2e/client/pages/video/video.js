// The video page: the list grouped by category, hls.js playback with credentials, resolution
// buttons, the periodic token refresh and logout, like the real client. `window.e2e` only
// records what happened so the tests can look at it; it changes no behaviour.
"use strict";

const REFRESH_INTERVAL_MS = 20 * 60 * 1000;  // the real client refreshes every 20 minutes
const NEW_FOR_MS = 5 * 24 * 60 * 60 * 1000;  // "New on Videoflix": the last 5 days

let videos = [];
let hls = null;
let currentVideoId = null;

window.e2e = {
  list: "loading",  // "loaded" | "failed"
  engine: null,  // "hls.js" or "native"
  source: null,  // the playlist URL being played
  levels: [],  // what hls.js parsed from it
  errors: [],  // every hls.js error event: {source, type, details, fatal, url, code}
  fragments: [],  // every loaded segment URL
  playErrors: [],
  refreshes: [],  // {status, data} of every token refresh
  logoutError: null,
};

async function loadVideos() {
  let response;
  try {
    response = await apiFetch("video/");
  } catch (error) {  // CORS refused, network down
    showMessages("The server cannot be reached.", "error");
    e2e.list = "failed";
    return;
  }
  const answer = await readJson(response);
  if (!answer.ok) {
    showMessages(answer.data, "error");
    e2e.list = "failed";
    return;
  }
  videos = answer.data;
  renderVideos(videos);
  e2e.list = "loaded";
}

function isNew(video) {
  return Date.now() - new Date(video.created_at).getTime() < NEW_FOR_MS;
}

function videoCard(video) {
  // the id goes unquoted into an inline handler, the texts in as HTML: like the real client
  return `<div class="video-card" data-id="${video.id}" onclick="openVideo(${video.id})">
      <img src="${video.thumbnail_url}" alt="">
      <div class="video-title">${video.title}</div>
    </div>`;
}

function categorySection(id, title, list) {
  return `<section id="${id}" class="category">
      <h2>${title}</h2>
      <div class="row">${list.map(videoCard).join("")}</div>
    </section>`;
}

function renderVideos(list) {
  let html = "";
  const fresh = list.filter(isNew);
  if (fresh.length) {
    html += categorySection("newest", "New on Videoflix", fresh);
  }
  const groups = new Map();
  for (const video of list) {
    const key = video.category.toLowerCase();
    if (!groups.has(key)) groups.set(key, { title: video.category, videos: [] });
    groups.get(key).videos.push(video);
  }
  for (const [key, group] of groups) {
    html += categorySection(key, group.title, group.videos);
  }
  document.getElementById("categories").innerHTML = html;
}

function openVideo(id) {
  currentVideoId = id;
  const video = videos.find((v) => v.id === id);
  document.getElementById("player-title").innerHTML = video ? video.title : "";
  document.getElementById("player-section").hidden = false;
  playResolution("480p");
}

function playlistUrl(id, resolution) {
  if (resolution === "auto") return `${API_BASE_URL}video/${id}/master.m3u8`;
  return `${API_BASE_URL}video/${id}/${resolution}/index.m3u8`;
}

function playResolution(resolution) {
  for (const button of document.querySelectorAll("#resolutions button")) {
    button.classList.toggle("active", button.dataset.resolution === resolution);
  }
  startPlayback(playlistUrl(currentVideoId, resolution));
}

function startPlayback(url) {
  const player = document.getElementById("player");
  if (hls) {
    hls.destroy();
    hls = null;
  }
  e2e.source = url;
  e2e.levels = [];
  if (window.Hls && Hls.isSupported()) {
    e2e.engine = "hls.js";
    hls = new Hls({
      xhrSetup: (xhr) => {
        xhr.withCredentials = true;
      },
    });
    window.hls = hls;
    hls.on(Hls.Events.ERROR, (event, data) => {
      e2e.errors.push({
        source: url,
        type: data.type,
        details: data.details,
        fatal: data.fatal,
        url: data.url || (data.frag && data.frag.url) || (data.context && data.context.url) || null,
        code: data.response ? data.response.code : null,
      });
    });
    hls.on(Hls.Events.FRAG_LOADED, (event, data) => {
      e2e.fragments.push(data.frag.url);
    });
    hls.on(Hls.Events.MANIFEST_PARSED, (event, data) => {
      e2e.levels = data.levels.map((l) => ({ width: l.width, height: l.height, bitrate: l.bitrate }));
      player.play().catch((error) => e2e.playErrors.push(String(error)));
    });
    hls.loadSource(url);
    hls.attachMedia(player);
  } else {
    e2e.engine = "native";
    player.src = url;
    player.play().catch((error) => e2e.playErrors.push(String(error)));
  }
}

async function refreshToken() {
  const response = await apiFetch("token/refresh/", { method: "POST" });
  const answer = await readJson(response);
  e2e.refreshes.push({ status: response.status, data: answer.data });
  return response.status;
}

async function logout() {
  const csrfToken = getCsrfToken();  // throws, and nothing is sent, without the cookie
  const response = await apiFetch("logout/", {
    method: "POST",
    headers: { "X-CSRFToken": csrfToken },
  });
  const answer = await readJson(response);
  if (!answer.ok) {
    showMessages(answer.data, "error");
    return;
  }
  if (hls) hls.destroy();
  window.location.href = "../auth/login.html";
}

document.getElementById("logout-button").addEventListener("click", () => {
  logout().catch((error) => {
    e2e.logoutError = String(error);
    showMessages("Logout failed.", "error");
  });
});
for (const button of document.querySelectorAll("#resolutions button")) {
  button.addEventListener("click", () => playResolution(button.dataset.resolution));
}
setInterval(refreshToken, REFRESH_INTERVAL_MS);
loadVideos();
