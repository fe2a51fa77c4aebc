// Small progressive enhancements. Every page works without this file.
document.addEventListener("DOMContentLoaded", () => {
  // Submit the organization switcher as soon as a choice is made; the button stays for
  // keyboard and no-JS users.
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.requestSubmit());
  }
});
