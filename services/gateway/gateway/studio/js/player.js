// The inline preview: one rendition's HLS playlist played with hls.js (Safari's native HLS
// when MediaSource is missing) in a row under the video's row. One preview at a time.

import { h } from "./dom.js";

let current = null; // {hls, row, videoId}

export function stopPreview() {
  if (!current) return;
  if (current.hls) current.hls.destroy();
  current.row.remove();
  current = null;
}

export function previewingVideo() {
  return current ? current.videoId : null;
}

/** Opens the preview of `rendition` of video `video` under `videoRow` (`columns` wide). */
export function openPreview(videoRow, video, rendition, columns) {
  stopPreview();
  const url = `/api/video/${video.id}/${encodeURIComponent(rendition)}/index.m3u8`;
  const player = h("video", {
    class: "preview-video",
    controls: true,
    playsinline: true,
    "aria-label": `Preview of ${video.title} at ${rendition}`,
    "data-testid": "preview-player",
  });
  player.muted = true;
  const problem = h("p", { class: "error", role: "alert" });
  const close = h("button", { type: "button", class: "secondary" }, "Close preview");
  const heading = h("p", { class: "preview-title" }, `Preview: ${video.title} (${rendition})`);
  const row = h(
    "tr",
    { class: "preview-row", dataset: { previewOf: String(video.id) } },
    h("td", { colspan: String(columns) }, heading, player, problem, close),
  );
  videoRow.after(row);
  current = { hls: null, row, videoId: video.id };
  close.addEventListener("click", () => {
    const opener = videoRow.querySelector(`[data-rendition="${CSS.escape(rendition)}"]`);
    stopPreview();
    if (opener) opener.focus();
  });

  const Hls = window.Hls;
  if (Hls && Hls.isSupported()) {
    const hls = new Hls({ enableWorker: true });
    current.hls = hls;
    hls.on(Hls.Events.MANIFEST_PARSED, () => player.play().catch(() => {}));
    hls.on(Hls.Events.FRAG_LOADED, () => {
      player.dataset.fragments = String(Number(player.dataset.fragments || 0) + 1);
    });
    hls.on(Hls.Events.ERROR, (_event, data) => {
      if (data.fatal) problem.textContent = `The preview failed: ${data.details}.`;
    });
    hls.loadSource(url);
    hls.attachMedia(player);
  } else if (player.canPlayType("application/vnd.apple.mpegurl")) {
    player.src = url;
    player.play().catch(() => {});
  } else {
    problem.textContent = "This browser cannot play HLS.";
  }
}
