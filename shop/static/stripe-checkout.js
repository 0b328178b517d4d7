// Mounts Stripe's Payment Element (card, Alipay, WeChat Pay) on the pay page. Loaded only in production,
// after https://js.stripe.com/v3/ (the page's CSP allows exactly that origin there).
(function () {
  "use strict";
  var form = document.getElementById("payment-form");
  if (!form || typeof Stripe === "undefined") { return; }
  var stripe = Stripe(form.dataset.publishableKey);
  var elements = stripe.elements({ clientSecret: form.dataset.clientSecret, locale: document.documentElement.lang === "en" ? "en" : "zh" });
  elements.create("payment").mount("#payment-element");
  var message = document.getElementById("payment-message");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    document.getElementById("pay-submit").disabled = true;
    stripe.confirmPayment({ elements: elements, confirmParams: { return_url: form.dataset.returnUrl } })
      .then(function (result) {
        if (result.error) {
          message.textContent = result.error.message;
          message.hidden = false;
          document.getElementById("pay-submit").disabled = false;
        }
      });
  });
})();
