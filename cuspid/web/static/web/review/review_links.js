// Review links (issue 8): the "Copy link" button of a new link. Without this file the link is
// still shown, in a read-only field the user selects and copies. Listeners sit on the
// document, so they work after htmx swaps the panel; the guard keeps them single when the
// panel (and this script tag) is swapped in again.
(() => {
  if (window.cuspidReviewLinks) return;
  window.cuspidReviewLinks = true;

  const showButtons = (root) => {
    root.querySelectorAll("[data-copy-target]").forEach((button) => { button.hidden = false; });
  };

  document.addEventListener("DOMContentLoaded", () => showButtons(document));
  document.addEventListener("htmx:afterSettle", (event) => {
    if (event.target instanceof Element) showButtons(event.target);
  });

  document.addEventListener("click", async (event) => {
    const button = event.target instanceof Element ? event.target.closest("[data-copy-target]") : null;
    if (!(button instanceof HTMLElement)) return;
    const input = document.getElementById(button.dataset.copyTarget || "");
    if (!(input instanceof HTMLInputElement)) return;
    const status = button.closest(".review-link-created")?.querySelector("[data-copy-status]");
    input.focus();
    input.select();
    let copied = false;
    try {
      await navigator.clipboard.writeText(input.value);
      copied = true;
    } catch {
      copied = false;
    }
    if (status) {
      status.textContent = copied ? button.dataset.copiedText || "" : button.dataset.copyFailedText || "";
    }
  });
})();
