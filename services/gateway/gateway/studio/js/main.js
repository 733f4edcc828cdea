// The studio's start: who is here (the admin video list answers 200, 401 or 403), the login
// form, the refusal for non-admins, and the two sections (#videos, #users).

import { api, session } from "./api.js";
import { byId, notify } from "./dom.js";
import { setUpEditing } from "./edit.js";
import { startLive, stopLive } from "./live.js";
import { stopPreview } from "./player.js";
import { setUpUploads } from "./upload.js";
import { loadUsers, setUpUsers } from "./users.js";
import { clearVideos, showAll } from "./videos.js";

const VIEWS = ["boot-view", "login-view", "refusal-view", "videos-view", "users-view"];
let signedIn = false;

function show(view) {
  for (const id of VIEWS) byId(id).hidden = id !== view;
  byId("nav").hidden = !signedIn;
  byId("account").hidden = !signedIn;
}

function sectionFromHash() {
  return window.location.hash === "#users" ? "users" : "videos";
}

function showSection(moveFocus) {
  if (!signedIn) return;
  const section = sectionFromHash();
  show(`${section}-view`);
  for (const name of ["videos", "users"]) {
    const link = byId(`nav-${name}`);
    if (name === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (section === "users") loadUsers();
  else stopPreview();
  if (moveFocus) byId(`${section}-heading`).focus();
}

function showLogin(message = "") {
  signedIn = false;
  stopLive();
  stopPreview();
  clearVideos();
  show("login-view");
  byId("login-error").textContent = message;
  byId("login-email").focus();
}

function showRefusal() {
  signedIn = false;
  stopLive();
  clearVideos();
  show("refusal-view");
  byId("refusal-logout").focus();
}

/** Enters the studio when the caller is an admin; else the login form or the refusal. */
async function enter() {
  try {
    const videos = await api("/api/admin/videos/");
    signedIn = true;
    showAll(videos);
    startLive();
    showSection(false);
  } catch (error) {
    if (error.status === 401) showLogin();
    else if (error.status === 403) showRefusal();
    else {
      show("boot-view");
      notify(`The studio could not load: ${error.message}`, "error");
    }
  }
}

async function login(event) {
  event.preventDefault();
  const submit = event.target.querySelector('[data-testid="login-submit"]');
  const email = byId("login-email").value.trim();
  const password = byId("login-password").value;
  byId("login-error").textContent = "";
  if (!email || !password) {
    byId("login-error").textContent = "Enter your email and password.";
    return;
  }
  submit.disabled = true;
  try {
    await api("/api/login/", { method: "POST", json: { email, password } });
    byId("login-password").value = "";
    notify("");
    await enter();
  } catch (error) {
    byId("login-error").textContent = error.message;
  } finally {
    submit.disabled = false;
  }
}

async function logout() {
  try {
    await api("/api/logout/", { method: "POST", json: undefined });
  } catch {
    // already logged out (no refresh cookie): the login form is what is left to show
  }
  showLogin();
  notify("You are logged out.");
}

function start() {
  setUpUploads();
  setUpEditing();
  setUpUsers();
  byId("login-form").addEventListener("submit", login);
  byId("logout").addEventListener("click", logout);
  byId("refusal-logout").addEventListener("click", logout);
  window.addEventListener("hashchange", () => showSection(true));
  session.addEventListener("expired", () => {
    if (signedIn) showLogin("Your session has ended. Please log in again.");
  });
  session.addEventListener("refused", showRefusal);
  enter();
}

start();
