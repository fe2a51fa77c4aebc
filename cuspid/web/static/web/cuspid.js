// Small progressive enhancements. Every page works without this file, and nothing here may
// change the page's context on its own (WCAG 3.2.2): the organization switcher, for one,
// submits only when its button is pressed.
document.addEventListener("DOMContentLoaded", () => {
  // After a rejected form, put the keyboard on the first field that needs attention.
  const invalid = document.querySelector("main [aria-invalid='true']");
  if (invalid instanceof HTMLElement) invalid.focus();
});
