// Hall console: +/- steppers and a running total on the counter-sale screen. The form works without it.
(function () {
  "use strict";
  function yuan(fen) {
    return (fen / 100).toFixed(2);
  }
  function refresh(form) {
    var out = form.querySelector("[data-total]");
    if (!out) return;
    var fen = 0;
    form.querySelectorAll("input[data-price]").forEach(function (input) {
      var qty = parseInt(input.value, 10);
      if (qty > 0) fen += qty * parseInt(input.dataset.price, 10);
    });
    out.textContent = yuan(fen);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-pos]").forEach(function (form) {
      form.addEventListener("input", function () { refresh(form); });
      form.querySelectorAll("button[data-step]").forEach(function (button) {
        button.addEventListener("click", function () {
          var input = button.parentElement.querySelector("input[type=number]");
          var max = input.max === "" ? Infinity : parseInt(input.max, 10);
          var next = (parseInt(input.value, 10) || 0) + parseInt(button.dataset.step, 10);
          input.value = Math.max(0, Math.min(max, next)) || "";
          refresh(form);
        });
      });
      form.addEventListener("submit", function () {
        // One tap records one sale: a second tap while the first is posting would only replay it.
        var submit = form.querySelector("button[type=submit]");
        if (submit) setTimeout(function () { submit.disabled = true; }, 0);
      });
      refresh(form);
    });
  });
})();
