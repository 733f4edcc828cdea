// Resumable upload with tus-js-client (tus 1.0 at /api/admin/uploads/). The file goes in
// chunks, so a dropped connection costs at most one chunk: the client asks the server for its
// offset (HEAD) and carries on from there. The upload's URL is kept in localStorage under the
// file's fingerprint (name, type, size, modification time), so after a reload, picking the
// same file again resumes it instead of starting over.

import { api, csrfToken, refreshToken } from "./api.js";
import { byId, clearFieldErrors, formatBytes, notify, setProgress, showFieldErrors } from "./dom.js";
import { upsertVideo } from "./videos.js";

const DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024;
const RETRY_DELAYS_MS = [0, 1000, 3000, 5000, 10000, 20000, 30000];

let running = null; // the tus.Upload in flight

/** The chunk size: 8 MiB, or `window.STUDIO_CHUNK_BYTES` when a page sets it (tests do). */
function chunkBytes() {
  const override = Number(window.STUDIO_CHUNK_BYTES);
  return Number.isInteger(override) && override > 0 ? override : DEFAULT_CHUNK_BYTES;
}

function statusOf(error) {
  return error && error.originalResponse ? error.originalResponse.getStatus() : 0;
}

function bodyOf(error) {
  if (!error || !error.originalResponse) return null;
  try {
    return JSON.parse(error.originalResponse.getBody());
  } catch {
    return null;
  }
}

function shouldRetry(error) {
  const status = statusOf(error);
  if (status === 401) {
    refreshToken(); // the retry delay leaves it time; the next request carries the new cookie
    return true;
  }
  if (status === 409 || status === 423) return true; // an offset mismatch or a PATCH in progress
  return !(status >= 400 && status < 500);
}

export function setUpUploads() {
  const form = byId("upload-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    start(form);
  });
  byId("upload-cancel").addEventListener("click", () => {
    if (!running) return;
    running.abort(true).catch(() => {}); // true: DELETE it on the server too
    finish("Upload cancelled.");
  });
}

function validate(form, file, fields) {
  const problems = {};
  if (!file) problems.file = ["Choose a video file."];
  if (!fields.title.trim()) problems.title = ["Give the video a title."];
  if (!fields.category.trim()) problems.category = ["Give the video a category."];
  showFieldErrors(form, problems);
  return Object.keys(problems).length === 0;
}

/** tus metadata: the file's name and the form's fields (an empty description left out). */
function metadataOf(file, fields) {
  const metadata = { filename: file.name, title: fields.title, category: fields.category };
  if (fields.description) metadata.description = fields.description;
  return metadata;
}

function finish(message, kind = "info") {
  running = null;
  byId("upload-submit").disabled = false;
  byId("upload-cancel").hidden = true;
  byId("upload-message").textContent = message;
  if (kind === "error") byId("upload-progress").dataset.state = "error";
}

async function start(form) {
  if (running) return;
  const file = byId("upload-file").files[0];
  const fields = {
    title: byId("upload-title").value,
    description: byId("upload-description").value,
    category: byId("upload-category").value,
  };
  byId("upload-error").textContent = "";
  clearFieldErrors(form);
  if (!validate(form, file, fields)) return;
  if (!window.tus || !window.tus.isSupported) {
    byId("upload-error").textContent = "This browser cannot upload resumably.";
    return;
  }
  const bar = byId("upload-progress");
  bar.hidden = false;
  delete bar.dataset.state;
  setProgress(bar, 0, `0 of ${formatBytes(file.size)}`);
  let videoId = null;
  const upload = new window.tus.Upload(file, {
    endpoint: new URL("/api/admin/uploads/", window.location.href).href,
    chunkSize: chunkBytes(),
    retryDelays: RETRY_DELAYS_MS,
    metadata: metadataOf(file, fields),
    // read at every request (tus-js-client sets each header once per request): the cookie's
    // value then, also after a token refresh renewed it
    headers: {
      get "X-CSRFToken"() {
        return csrfToken();
      },
    },
    removeFingerprintOnSuccess: true,
    onAfterResponse(_request, response) {
      const id = Number(response.getHeader("Videoflix-Video-Id"));
      if (Number.isInteger(id) && id > 0) videoId = id;
    },
    onShouldRetry: shouldRetry,
    onProgress(sent, total) {
      const text = `${formatBytes(sent)} of ${formatBytes(total)}`;
      setProgress(bar, total ? (sent / total) * 100 : 0, text);
      byId("upload-message").textContent = `Uploading “${fields.title}”: ${text}`;
    },
    onSuccess() {
      setProgress(bar, 100, `${formatBytes(file.size)} uploaded`);
      finish(`Uploaded “${fields.title}”; it is being processed.`);
      notify(`Uploaded “${fields.title}”.`, "success");
      form.reset();
      if (videoId !== null) {
        api(`/api/admin/videos/${videoId}/`).then(upsertVideo, () => {});
      }
    },
    onError(error) {
      const body = bodyOf(error);
      let rest = [];
      if (statusOf(error) === 400 && body) {
        rest = showFieldErrors(form, Object.fromEntries(
          Object.entries(body).map(([key, value]) => [key, [].concat(value)]),
        ));
      } else {
        rest = [body && body.detail ? body.detail : String(error.message || error)];
      }
      byId("upload-error").textContent = rest.join(" ");
      finish("The upload stopped. Upload the same file again to resume it.", "error");
    },
  });
  running = upload;
  byId("upload-submit").disabled = true;
  byId("upload-cancel").hidden = false;
  const previous = await upload.findPreviousUploads();
  if (previous.length) {
    previous.sort((a, b) => String(b.creationTime).localeCompare(String(a.creationTime)));
    upload.resumeFromPreviousUpload(previous[0]);
    byId("upload-message").textContent = `Resuming the earlier upload of ${file.name}…`;
  } else {
    byId("upload-message").textContent = `Starting the upload of ${file.name}…`;
  }
  upload.start();
}
