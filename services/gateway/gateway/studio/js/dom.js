// Building the page: every text goes in as a text node (never as markup), attributes one by one.

/**
 * `h("td", {class: "x", dataset: {videoId: 3}}, "text", child)`: an element; strings become
 * text nodes, null/false children are skipped, `on*` functions become listeners.
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "dataset") {
      Object.assign(element.dataset, value);
    } else if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2).toLowerCase(), value);
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

export function append(element, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export const byId = (id) => document.getElementById(id);

/** Shows a message in the page's live region (read out by screen readers). */
export function notify(text, kind = "info") {
  const notice = byId("notice");
  notice.textContent = text;
  notice.dataset.kind = kind;
}

/** Sets a progress bar (`role="progressbar"`) to `percent` (0-100). */
export function setProgress(bar, percent, text) {
  const value = Math.max(0, Math.min(100, Math.round(percent)));
  bar.setAttribute("aria-valuenow", String(value));
  bar.setAttribute("aria-valuetext", text || `${value}%`);
  bar.firstElementChild.style.width = `${value}%`;
}

export function progressBar(label, testid) {
  return h(
    "div",
    {
      class: "progress",
      role: "progressbar",
      "aria-label": label,
      "aria-valuemin": "0",
      "aria-valuemax": "100",
      "aria-valuenow": "0",
      "data-testid": testid,
    },
    h("div", { class: "progress-fill" }),
  );
}

/** Field errors of a 400 next to their fields (`[data-field=name]` in `scope`); the rest is
 * returned for a general message. */
export function showFieldErrors(scope, fields) {
  const rest = [];
  for (const element of scope.querySelectorAll(".field-error")) element.textContent = "";
  for (const [field, messages] of Object.entries(fields)) {
    const slot = scope.querySelector(`.field-error[data-field="${CSS.escape(field)}"]`);
    if (slot) slot.textContent = messages.join(" ");
    else rest.push(...messages);
  }
  return rest;
}

export function clearFieldErrors(scope) {
  for (const element of scope.querySelectorAll(".field-error")) element.textContent = "";
}

export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const total = Math.round(seconds);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const rest = String(total % 60).padStart(2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${rest}` : `${minutes}:${rest}`;
}

export function formatBytes(bytes) {
  if (typeof bytes !== "number") return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(unit ? 1 : 0)} ${units[unit]}`;
}

export function formatDate(iso) {
  if (!iso) return "never";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}
