// Edit (title, description, category, a new thumbnail) and delete-with-confirmation dialogs.

import { api } from "./api.js";
import { clearFieldErrors, byId, notify, showFieldErrors } from "./dom.js";
import { closeDialog, openDialog, wireDialog } from "./dialogs.js";
import { onDelete, onEdit, removeVideo, upsertVideo } from "./videos.js";

let editing = null; // the video in the edit dialog
let deleting = null; // the video in the delete dialog

export function setUpEditing() {
  const editDialog = byId("edit-dialog");
  const deleteDialog = byId("delete-dialog");
  wireDialog(editDialog, () => {
    editing = null;
  });
  wireDialog(deleteDialog, () => {
    deleting = null;
  });
  onEdit((video) => openEdit(editDialog, video));
  onDelete((video) => openDelete(deleteDialog, video));
  byId("edit-form").addEventListener("submit", (event) => {
    event.preventDefault();
    save(editDialog);
  });
  byId("confirm-delete").addEventListener("click", () => confirmDelete(deleteDialog));
}

function openEdit(dialog, video) {
  editing = video;
  const form = byId("edit-form");
  form.reset();
  clearFieldErrors(form);
  byId("edit-error").textContent = "";
  byId("edit-heading").textContent = `Edit “${video.title}”`;
  byId("edit-title").value = video.title;
  byId("edit-category").value = video.category;
  byId("edit-description").value = video.description;
  openDialog(dialog, byId("edit-title"));
}

async function save(dialog) {
  if (!editing) return;
  const form = byId("edit-form");
  const saveButton = form.querySelector('[data-testid="edit-save"]');
  const fields = {
    title: byId("edit-title").value,
    description: byId("edit-description").value,
    category: byId("edit-category").value,
  };
  const thumbnail = byId("edit-thumbnail").files[0];
  let request;
  if (thumbnail) {
    const body = new FormData();
    for (const [name, value] of Object.entries(fields)) body.append(name, value);
    body.append("thumbnail", thumbnail);
    request = { method: "PATCH", form: body };
  } else {
    request = { method: "PATCH", json: fields };
  }
  saveButton.disabled = true;
  try {
    const video = await api(`/api/admin/videos/${editing.id}/`, request);
    upsertVideo(video);
    closeDialog(dialog);
    notify(`Saved “${video.title}”.`, "success");
  } catch (error) {
    const rest = error.status === 400 ? showFieldErrors(form, error.fields) : [error.message];
    byId("edit-error").textContent = rest.join(" ") || "Please check the fields above.";
    if (error.status === 404) removeVideo(editing.id);
  } finally {
    saveButton.disabled = false;
  }
}

function openDelete(dialog, video) {
  deleting = video;
  byId("delete-heading").textContent = `Delete “${video.title}”?`;
  byId("delete-text").textContent =
    "The video, its renditions and its thumbnail are removed for good. This cannot be undone.";
  byId("delete-error").textContent = "";
  openDialog(dialog);
}

async function confirmDelete(dialog) {
  if (!deleting) return;
  const video = deleting;
  const button = byId("confirm-delete");
  button.disabled = true;
  try {
    await api(`/api/admin/videos/${video.id}/`, { method: "DELETE" });
    closeDialog(dialog);
    removeVideo(video.id);
    notify(`Deleted “${video.title}”.`, "success");
    byId("videos-heading").focus();
  } catch (error) {
    if (error.status === 404) {
      closeDialog(dialog);
      removeVideo(video.id);
    } else {
      byId("delete-error").textContent = error.message;
    }
  } finally {
    button.disabled = false;
  }
}
