// Pins and comments on the revision review page (templates/cases/review/_annotations.html,
// _comments.html). The panels are re-rendered by htmx, so every handler is delegated from
// the document and reads the DOM afresh. The page works without this file, except placing a
// pin, which needs the viewer anyway.
//
// Events with the 3D viewer (all on `document`, CustomEvent):
//   listens    cuspid:pin-placed      {point: [x,y,z], normal: [x,y,z], attachmentId}
//              cuspid:annotation-focus {number}   (a marker was clicked in the viewer)
//   dispatches cuspid:annotation-show {number}    (a pin of the list was clicked)
// "Add pin" here presses the viewer's own "Add pin" ([data-viewer-action=pin]): pin mode.
(() => {
  if (window.cuspidReview) return;
  window.cuspidReview = true;

  const fmt = (v) => v.map((n) => Number(n).toFixed(4)).join(",");

  // --- pins ---------------------------------------------------------------------------------

  document.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    const add = target.closest("[data-pin-add]");
    if (add) {
      const form = add.closest("[data-pin-form]");
      const status = form && form.querySelector("[data-pin-status]");
      add.setAttribute("aria-pressed", "true");
      if (status) status.textContent = status.dataset.placingText || "";
      // The viewer's own "Add pin" puts it in pin mode: the next click on a mesh places it.
      const viewerPin = document.querySelector("[data-viewer-action='pin']");
      if (viewerPin instanceof HTMLElement && viewerPin.getAttribute("aria-pressed") !== "true") {
        viewerPin.click();
        viewerPin.scrollIntoView({ block: "nearest" });
      }
      return;
    }
    const show = target.closest("[data-annotation-number]");
    if (show) {
      const number = Number(show.getAttribute("data-annotation-number"));
      highlight(number);
      document.dispatchEvent(new CustomEvent("cuspid:annotation-show", { detail: { number } }));
    }
  });

  document.addEventListener("cuspid:pin-placed", (event) => {
    const detail = event.detail || {};
    const form = document.querySelector("[data-pin-form]");
    if (!form || !Array.isArray(detail.point) || !Array.isArray(detail.normal)) return;
    form.querySelector("[data-pin-point]").value = fmt(detail.point);
    form.querySelector("[data-pin-normal]").value = fmt(detail.normal);
    form.querySelector("[data-pin-attachment]").value = detail.attachmentId || "";
    const add = form.querySelector("[data-pin-add]");
    if (add) add.setAttribute("aria-pressed", "false");
    const status = form.querySelector("[data-pin-status]");
    if (status) status.textContent = status.dataset.placedText || "";
    const text = form.querySelector("[data-pin-text]");
    if (text) text.focus();
  });

  function highlight(number) {
    document.querySelectorAll(".pin.is-focused").forEach((el) => el.classList.remove("is-focused"));
    const item = document.getElementById(`annotation-${number}`);
    if (!item) return;
    item.classList.add("is-focused");
    item.scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("cuspid:annotation-focus", (event) => {
    const number = Number((event.detail || {}).number);
    if (Number.isInteger(number)) highlight(number);
  });

  // --- @mentions ----------------------------------------------------------------------------

  function people() {
    const data = document.getElementById("review-participants");
    try {
      return data ? JSON.parse(data.textContent || "[]") : [];
    } catch (_error) {
      return [];
    }
  }

  // The "@word" being typed just before the caret, or null.
  function typedHandle(textarea) {
    const before = textarea.value.slice(0, textarea.selectionStart);
    const match = /(^|[^\w@.])@([\w.-]*)$/.exec(before);
    return match ? { query: match[2].toLowerCase(), start: before.length - match[2].length - 1 } : null;
  }

  function insertHandle(textarea, handle, start) {
    const end = textarea.selectionStart;
    const from = start === undefined ? end : start;
    const before = textarea.value.slice(0, from);
    const spacer = from === end && before && !/\s$/.test(before) ? " " : "";
    const text = `${spacer}@${handle} `;
    textarea.value = before + text + textarea.value.slice(end);
    const caret = from + text.length;
    textarea.focus();
    textarea.setSelectionRange(caret, caret);
  }

  function suggestionBox(textarea) {
    const field = textarea.closest(".field");
    return field ? field.querySelector("[data-mention-suggestions]") : null;
  }

  function suggest(textarea) {
    const box = suggestionBox(textarea);
    if (!box) return;
    const typed = typedHandle(textarea);
    box.replaceChildren();
    if (!typed) {
      box.hidden = true;
      return;
    }
    const matches = people()
      .filter((p) => p.handle.startsWith(typed.query) || p.name.toLowerCase().includes(typed.query))
      .slice(0, 6);
    for (const person of matches) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "mention-suggestion";
      button.textContent = `@${person.handle} · ${person.name}, ${person.organization}`;
      button.addEventListener("click", () => {
        insertHandle(textarea, person.handle, typed.start);
        box.hidden = true;
      });
      box.append(button);
    }
    box.hidden = matches.length === 0;
  }

  let lastTextarea = null;
  document.addEventListener("input", (event) => {
    const textarea = event.target;
    if (textarea instanceof HTMLTextAreaElement && textarea.matches("[data-mention-input]")) {
      lastTextarea = textarea;
      suggest(textarea);
    }
  });
  document.addEventListener("focusin", (event) => {
    if (event.target instanceof HTMLTextAreaElement && event.target.matches("[data-mention-input]")) {
      lastTextarea = event.target;
    }
  });
  document.addEventListener("keydown", (event) => {
    const textarea = event.target;
    if (event.key !== "Escape" || !(textarea instanceof HTMLTextAreaElement)) return;
    const box = suggestionBox(textarea);
    if (box && !box.hidden) {
      box.hidden = true;
      event.preventDefault();
    }
  });
  document.addEventListener("click", (event) => {
    const button = event.target instanceof Element ? event.target.closest("[data-mention-insert]") : null;
    if (!button) return;
    const textarea = lastTextarea && document.contains(lastTextarea)
      ? lastTextarea
      : document.getElementById("comment-body");
    if (textarea instanceof HTMLTextAreaElement) {
      insertHandle(textarea, button.getAttribute("data-mention-insert") || "");
    }
  });
})();
