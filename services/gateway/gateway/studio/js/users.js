// The users page: list, search by email, deactivate/reactivate, resend the activation mail.

import { api } from "./api.js";
import { byId, formatDate, h, notify } from "./dom.js";

const SEARCH_DELAY_MS = 250;
let searchTimer = null;
let generation = 0; // answers to older searches are dropped

export function setUpUsers() {
  const form = byId("user-search-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    loadUsers();
  });
  byId("user-search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(loadUsers, SEARCH_DELAY_MS);
  });
}

export async function loadUsers() {
  clearTimeout(searchTimer);
  const search = byId("user-search").value.trim();
  const mine = ++generation;
  const query = search ? `?search=${encodeURIComponent(search)}` : "";
  try {
    const users = await api(`/api/admin/users/${query}`);
    if (mine !== generation) return;
    const body = byId("user-rows");
    body.replaceChildren(...users.map(userRow));
    body.dataset.search = search;
    byId("users-empty").hidden = users.length > 0;
  } catch (error) {
    if (mine === generation) notify(`The users could not be listed: ${error.message}`, "error");
  }
}

function userRow(user) {
  const row = h("tr", {
    "data-testid": "user-row",
    dataset: { userId: String(user.id), active: String(user.is_active) },
  });
  fillUser(row, user);
  return row;
}

function fillUser(row, user) {
  row.dataset.active = String(user.is_active);
  const toggle = h(
    "button",
    {
      type: "button",
      class: user.is_active ? "danger" : "secondary",
      "data-testid": "user-toggle-active",
      "aria-label": `${user.is_active ? "Deactivate" : "Reactivate"} ${user.email}`,
    },
    user.is_active ? "Deactivate" : "Reactivate",
  );
  toggle.addEventListener("click", () => toggleActive(row, user, toggle));
  const resend = user.activated
    ? null
    : h(
        "button",
        { type: "button", class: "secondary", "aria-label": `Resend activation to ${user.email}` },
        "Resend activation",
      );
  if (resend) resend.addEventListener("click", () => resendActivation(user, resend));
  row.replaceChildren(
    h("td", { class: "user-email" }, user.email),
    h("td", {}, user.is_admin ? "Administrator" : "Member"),
    h("td", { class: "user-activated" }, user.activated ? "Activated" : "Not activated"),
    h(
      "td",
      { class: "user-active", dataset: { active: String(user.is_active) } },
      user.is_active ? "Active" : "Deactivated",
    ),
    h("td", {}, formatDate(user.created_at)),
    h("td", {}, formatDate(user.last_login)),
    h("td", {}, h("div", { class: "row-actions" }, toggle, resend)),
  );
}

async function toggleActive(row, user, button) {
  button.disabled = true;
  try {
    const updated = await api(`/api/admin/users/${user.id}/`, {
      method: "PATCH",
      json: { is_active: !user.is_active },
    });
    fillUser(row, updated);
    row.querySelector('[data-testid="user-toggle-active"]').focus();
    const done = updated.is_active ? "reactivated" : "deactivated and logged out everywhere";
    notify(`${updated.email} ${done}.`, "success");
  } catch (error) {
    button.disabled = false;
    notify(error.message, "error");
  }
}

async function resendActivation(user, button) {
  button.disabled = true;
  try {
    const answer = await api(`/api/admin/users/${user.id}/resend-activation/`, {
      method: "POST",
    });
    notify((answer && answer.detail) || `Activation mail sent to ${user.email}.`, "success");
  } catch (error) {
    notify(error.message, "error");
  } finally {
    button.disabled = false;
  }
}
