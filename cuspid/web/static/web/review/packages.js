// The work order page's Print button (templates/cases/workorder.html); no inline script.
document.addEventListener("click", (event) => {
  const button = event.target instanceof Element ? event.target.closest("[data-print-page]") : null;
  if (button) window.print();
});
