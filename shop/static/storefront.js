// Storefront touches that work without it too: quantity steppers, and the hall picker that applies as
// soon as a hall is chosen. Loaded from the shop itself (no outside scripts; CSP script-src 'self').
(function () {
  document.querySelectorAll(".stepper").forEach(function (box) {
    var input = box.querySelector("input[type=number]");
    box.querySelectorAll("button.step").forEach(function (btn) {
      btn.addEventListener("click", function () {
        var min = parseInt(input.min || "1", 10), max = parseInt(input.max || "999", 10);
        var v = (parseInt(input.value, 10) || min) + parseInt(btn.dataset.step, 10);
        input.value = Math.max(min, Math.min(max, v));
      });
    });
  });
  document.querySelectorAll("select[data-autosubmit]").forEach(function (sel) {
    sel.addEventListener("change", function () { if (sel.value) sel.form.submit(); });
  });
})();
