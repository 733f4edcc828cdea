// Modal dialogs on the native <dialog>: showModal() keeps focus and the keyboard inside and
// Escape closes it; on close, focus goes back to the element that opened it.

const openers = new WeakMap();

export function openDialog(dialog, focusFirst) {
  openers.set(dialog, document.activeElement);
  dialog.showModal();
  const target = focusFirst || dialog.querySelector("[autofocus]");
  if (target) target.focus();
}

export function closeDialog(dialog) {
  if (dialog.open) dialog.close();
}

/** Cancel buttons (`[data-close]`) close; closing returns focus to the opener. */
export function wireDialog(dialog, onClose) {
  for (const button of dialog.querySelectorAll("[data-close]")) {
    button.addEventListener("click", () => closeDialog(dialog));
  }
  dialog.addEventListener("close", () => {
    if (dialog.open) return; // the close event comes a task later: it was opened again since
    if (onClose) onClose();
    const opener = openers.get(dialog);
    openers.delete(dialog);
    if (opener && opener.isConnected && typeof opener.focus === "function") opener.focus();
  });
}
