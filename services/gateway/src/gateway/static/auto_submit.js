// A <select data-auto-submit> submits its form as soon as it changes (no inline handlers: CSP).
document.querySelectorAll("select[data-auto-submit]").forEach(function (select) {
  select.addEventListener("change", function () {
    select.form.submit();
  });
});
