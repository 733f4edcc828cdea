// The video table: one row per video, newest first, updated in place from the admin API's
// answers and its live events (so focus and an open preview survive an update).

import { api } from "./api.js";
import {
  byId,
  formatBytes,
  formatDuration,
  h,
  notify,
  progressBar,
  setProgress,
} from "./dom.js";
import { openPreview, previewingVideo, stopPreview } from "./player.js";

const COLUMNS = 8;
const videos = new Map(); // id -> {video, row, cells}
const actions = { edit: null, remove: null }; // set by edit.js

export function onEdit(handler) {
  actions.edit = handler;
}

export function onDelete(handler) {
  actions.remove = handler;
}

export function getVideo(id) {
  const entry = videos.get(id);
  return entry ? entry.video : null;
}

/** Replaces the table with `list` (the whole catalogue). */
export function showAll(list) {
  const ids = new Set(list.map((video) => video.id));
  for (const id of [...videos.keys()]) if (!ids.has(id)) removeVideo(id);
  for (const video of list) upsertVideo(video);
}

export function clearVideos() {
  stopPreview();
  for (const id of [...videos.keys()]) removeVideo(id);
}

export function removeVideo(id) {
  const entry = videos.get(id);
  if (!entry) return;
  if (previewingVideo() === id) stopPreview();
  entry.row.remove();
  videos.delete(id);
  afterChange();
}

export function upsertVideo(video) {
  let entry = videos.get(video.id);
  if (!entry) {
    entry = buildRow(video);
    videos.set(video.id, entry);
    place(entry);
  }
  fill(entry, video);
  entry.video = video;
  afterChange();
}

function place(entry) {
  const body = byId("video-rows");
  const newer = (a, b) => (a.created_at === b.created_at ? a.id > b.id : a.created_at > b.created_at);
  for (const other of body.querySelectorAll('tr[data-testid="video-row"]')) {
    const otherEntry = videos.get(Number(other.dataset.videoId));
    if (otherEntry && otherEntry.video && newer(entry.video, otherEntry.video)) {
      other.before(entry.row);
      return;
    }
  }
  body.append(entry.row);
}

function afterChange() {
  byId("videos-empty").hidden = videos.size > 0;
  const categories = new Set([...videos.values()].map((entry) => entry.video.category));
  const list = byId("categories");
  list.replaceChildren(...[...categories].sort().map((value) => h("option", { value })));
}

function buildRow(video) {
  const cells = {
    thumbnail: h("td", { class: "thumb-cell" }),
    title: h("span", { class: "video-title" }),
    details: h("span", { class: "muted video-category" }),
    status: h("span", { class: "status", "data-testid": "video-status" }),
    error: h("p", { class: "error video-error" }),
    progress: progressBar("Transcoding progress", "video-progress"),
    percent: h("span", { class: "percent" }),
    duration: h("td", {}),
    renditions: h("div", { class: "renditions" }),
    size: h("td", {}),
    retry: h("button", { type: "button", "data-testid": "video-retry", hidden: true }, "Retry"),
    edit: h("button", { type: "button", class: "secondary", "data-testid": "video-edit" }, "Edit"),
    remove: h(
      "button",
      { type: "button", class: "danger", "data-testid": "video-delete" },
      "Delete",
    ),
  };
  const row = h(
    "tr",
    { "data-testid": "video-row", dataset: { videoId: String(video.id) } },
    cells.thumbnail,
    h("td", {}, h("div", {}, cells.title), cells.details),
    h("td", {}, cells.status, cells.error),
    h("td", { class: "progress-cell" }, cells.progress, cells.percent),
    cells.duration,
    h("td", {}, cells.renditions),
    cells.size,
    h("td", {}, h("div", { class: "row-actions" }, cells.edit, cells.retry, cells.remove)),
  );
  const entry = { video, row, cells, renditionKey: null, thumbnailUrl: undefined };
  cells.edit.addEventListener("click", () => actions.edit && actions.edit(entry.video));
  cells.remove.addEventListener("click", () => actions.remove && actions.remove(entry.video));
  cells.retry.addEventListener("click", () => retry(entry));
  return entry;
}

function fill(entry, video) {
  const { cells, row } = entry;
  row.dataset.status = video.status;
  if (entry.thumbnailUrl !== video.thumbnail_url) {
    entry.thumbnailUrl = video.thumbnail_url;
    cells.thumbnail.replaceChildren(
      video.thumbnail_url
        ? h("img", { class: "thumb", src: video.thumbnail_url, alt: "", loading: "lazy" })
        : h("span", { class: "thumb placeholder" }, "No thumbnail"),
    );
  }
  cells.title.textContent = video.title;
  cells.details.textContent = video.category;
  cells.status.textContent = video.status;
  cells.status.dataset.status = video.status;
  cells.error.textContent = video.status === "failed" && video.error ? video.error : "";
  const percent = video.status === "ready" ? 100 : video.progress || 0;
  setProgress(cells.progress, percent, `${percent}% (${video.status})`);
  cells.percent.textContent = `${percent}%`;
  cells.duration.textContent = formatDuration(video.duration);
  cells.size.textContent = sizeText(video);
  cells.retry.hidden = video.status !== "failed";
  cells.edit.setAttribute("aria-label", `Edit ${video.title}`);
  cells.remove.setAttribute("aria-label", `Delete ${video.title}`);
  cells.retry.setAttribute("aria-label", `Retry ${video.title}`);
  cells.progress.setAttribute("aria-label", `Transcoding progress of ${video.title}`);
  fillRenditions(entry, video);
}

function sizeText(video) {
  const parts = [];
  if (video.width && video.height) parts.push(`${video.width}×${video.height}`);
  // byte sizes when the admin API gives them: the source's, and each rendition's (a tooltip)
  if (typeof video.source_bytes === "number") parts.push(formatBytes(video.source_bytes));
  return parts.join(" · ") || "–";
}

function fillRenditions(entry, video) {
  const names = video.renditions || [];
  const sizes = video.rendition_bytes || {};
  const playable = video.status === "ready";
  const key = JSON.stringify([names, sizes, playable, video.title]);
  if (entry.renditionKey === key) return;
  entry.renditionKey = key;
  if (!names.length) {
    entry.cells.renditions.replaceChildren(h("span", { class: "muted" }, "none yet"));
    return;
  }
  if (!playable) {
    entry.cells.renditions.replaceChildren(h("span", { class: "muted" }, names.join(", ")));
    return;
  }
  entry.cells.renditions.replaceChildren(
    ...names.map((name) => {
      const size = typeof sizes[name] === "number" ? formatBytes(sizes[name]) : "";
      return h(
        "button",
        {
          type: "button",
          class: "chip",
          "data-testid": "video-preview",
          "data-rendition": name,
          "aria-label": `Preview ${name} of ${video.title}${size ? ` (${size})` : ""}`,
          onClick: () => openPreview(entry.row, entry.video, name, COLUMNS),
        },
        name,
        size ? h("span", { class: "chip-size" }, ` ${size}`) : null,
      );
    }),
  );
}

async function retry(entry) {
  const button = entry.cells.retry;
  button.disabled = true;
  try {
    upsertVideo(await api(`/api/admin/videos/${entry.video.id}/retry/`, { method: "POST" }));
    notify(`Retrying “${entry.video.title}”.`);
  } catch (error) {
    notify(`Retry refused: ${error.message}`, "error");
  } finally {
    button.disabled = false;
    if (!button.hidden) button.focus();
    else entry.cells.edit.focus();
  }
}
