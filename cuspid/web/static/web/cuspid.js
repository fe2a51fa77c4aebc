// Small progressive enhancements. Every page works without this file, and nothing here may
// change the page's context on its own (WCAG 3.2.2): the organization switcher, for one,
// submits only when its button is pressed.
document.addEventListener("DOMContentLoaded", () => {
  // After a rejected form, put the keyboard on the first field that needs attention.
  const invalid = document.querySelector("main [aria-invalid='true']");
  if (invalid instanceof HTMLElement) invalid.focus();
});

// Uploads through htmx (a case's files). A region marked data-swap-refusals shows the 4xx
// answer it gets back (the refusal, said plainly), where htmx would otherwise drop it.
document.addEventListener("htmx:beforeSwap", (event) => {
  const status = event.detail.xhr.status;
  if (status >= 400 && status < 500 && event.target instanceof Element
      && event.target.closest("[data-swap-refusals]")) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
    // A whole error page (made before the view ran, e.g. a 413): show its message only.
    if (/^\s*<!DOCTYPE/i.test(event.detail.xhr.responseText || "")) {
      event.detail.selectOverride = "#main > .page";
    }
  }
});

// A form marked data-upload-form shows its upload's progress in its [data-upload-progress]
// box, and is cleared once the file is stored.
function uploadParts(event) {
  const form = event.target instanceof Element ? event.target.closest("[data-upload-form]") : null;
  if (!form) return null;
  const box = form.querySelector("[data-upload-progress]");
  return { form, box, bar: box ? box.querySelector("progress") : null };
}

document.addEventListener("htmx:beforeRequest", (event) => {
  const parts = uploadParts(event);
  if (!parts || !parts.box || !parts.bar) return;
  parts.bar.value = 0;
  parts.box.hidden = false;
  parts.form.setAttribute("aria-busy", "true");
});

document.addEventListener("htmx:xhr:progress", (event) => {
  const parts = uploadParts(event);
  if (!parts || !parts.bar || !event.detail.lengthComputable || !event.detail.total) return;
  parts.bar.value = Math.round((event.detail.loaded / event.detail.total) * 100);
});

document.addEventListener("htmx:afterRequest", (event) => {
  const parts = uploadParts(event);
  if (!parts) return;
  if (parts.box) parts.box.hidden = true;
  parts.form.removeAttribute("aria-busy");
  const status = event.detail.xhr ? event.detail.xhr.status : 0;
  if (status >= 200 && status < 300) parts.form.reset();
});

// A form marked data-max-bytes does not send a file over the limit: the server would refuse
// it only after the whole upload. Its [data-too-large] note says so instead.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.matches("[data-max-bytes]")) return;
  const limit = Number(form.dataset.maxBytes);
  const inputs = Array.from(form.querySelectorAll("input[type=file]"));
  const tooBig = inputs.some((input) => Array.from(input.files || []).some((f) => f.size > limit));
  const note = form.querySelector("[data-too-large]");
  if (note) note.hidden = !tooBig;
  if (tooBig) {
    event.preventDefault();
    event.stopPropagation();
  }
}, true);
