// Hall counter: sells from the last synced catalogue, keeps every sale in IndexedDB first and replays
// the queue oldest first when the server answers. Small and dependency-free on purpose.
(function () {
  "use strict";
  var CACHE = "gangu-counter-v1";
  var body = document.body;
  var CODE = body.dataset.code;
  var T = JSON.parse(document.getElementById("counter-i18n").textContent);
  var LANG = body.dataset.lang;
  var csrf = body.dataset.csrf;
  var snap = null;          // {items, sales_today, as_of, ...} as the server last sent it
  var queue = [];           // sales on this tablet: status "waiting" or "refused"
  var cart = {};            // sku -> quantity
  var cartOrder = [];
  var pay = null;
  var syncing = false;
  var signedOut = false;
  var $ = function (id) { return document.getElementById(id); };

  function fmt(text, args) {
    return text.replace(/%\((\w+)\)s/g, function (_m, k) { return args[k]; });
  }
  function yuan(fen) { return (fen / 100).toFixed(2); }
  var timeFmt = new Intl.DateTimeFormat("zh-CN", {
    timeZone: "Asia/Shanghai", hour: "2-digit", minute: "2-digit", hour12: false,
  });
  var stampFmt = new Intl.DateTimeFormat("zh-CN", {
    timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });
  function hhmm(iso) { return timeFmt.format(new Date(iso)); }
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function newId() {
    var bytes = new Uint8Array(8);
    crypto.getRandomValues(bytes);
    var hex = Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
    return CODE + "-" + Date.now().toString(36) + "-" + hex;
  }

  // -- IndexedDB: "snapshot" (one per hall) and "queue" (one row per sale, keyed by client_sale_id) --
  var dbp = new Promise(function (resolve, reject) {
    var open = indexedDB.open("gangu-counter", 1);
    open.onupgradeneeded = function () {
      open.result.createObjectStore("snapshot", { keyPath: "location" });
      open.result.createObjectStore("queue", { keyPath: "client_sale_id" });
    };
    open.onsuccess = function () { resolve(open.result); };
    open.onerror = function () { reject(open.error); };
  });
  function tx(store, mode, work) {
    return dbp.then(function (db) {
      return new Promise(function (resolve, reject) {
        var t = db.transaction(store, mode);
        var result = work(t.objectStore(store));
        t.oncomplete = function () { resolve(result && result.result); };
        t.onerror = function () { reject(t.error); };
        t.onabort = function () { reject(t.error); };
      });
    });
  }
  function loadQueue() {
    return tx("queue", "readonly", function (s) { return s.getAll(); }).then(function (rows) {
      queue = (rows || []).filter(function (r) { return r.location === CODE; });
      queue.sort(function (a, b) { return a.seq - b.seq; });
    });
  }

  // -- the server's view: fetched when it answers, else the stored one --
  function loadSnapshot() {
    return fetch(body.dataset.snapshotUrl, { credentials: "same-origin", cache: "no-store" })
      .then(function (resp) {
        var json = (resp.headers.get("Content-Type") || "").indexOf("json") >= 0;
        if (resp.redirected || !json) { signedOut = true; throw new Error("signed out"); }
        if (!resp.ok) throw new Error("snapshot " + resp.status);
        signedOut = false;
        return resp.json();
      })
      .then(function (fresh) {
        csrf = fresh.csrf_token || csrf;
        delete fresh.csrf_token;
        snap = fresh;
        return tx("snapshot", "readwrite", function (s) { s.put(fresh); });
      })
      .catch(function () {
        return tx("snapshot", "readonly", function (s) { return s.get(CODE); }).then(function (stored) {
          if (stored && (!snap || stored.as_of > snap.as_of)) snap = stored;
        });
      });
  }

  function waitingUnits() {
    var units = {};
    queue.forEach(function (sale) {
      if (sale.status !== "waiting") return;
      sale.lines.forEach(function (ln) { units[ln.sku] = (units[ln.sku] || 0) + ln.quantity; });
    });
    return units;
  }
  function item(sku) {
    var items = snap ? snap.items : [];
    for (var i = 0; i < items.length; i++) if (items[i].sku === sku) return items[i];
    return null;
  }
  function name(it) { return LANG === "zh" ? it.name : it.name_en; }
  function left(it) { return it.available - (waitingUnits()[it.sku] || 0); }

  // -- rendering --
  function renderStatus() {
    var online = navigator.onLine;
    $("net-status").textContent = signedOut ? T.sign_in : online ? T.online : T.offline;
    $("net-status").className = "c-pill " + (online && !signedOut ? "ok" : "warn");
    var waiting = queue.filter(function (s) { return s.status === "waiting"; });
    $("queue-status").textContent = waiting.length
      ? fmt(T.waiting, { n: waiting.length, t: hhmm(waiting[0].made_at) }) : T.none_waiting;
    $("queue-status").dataset.waiting = String(waiting.length);
    $("queue-status").className = "c-pill " + (waiting.length ? "warn" : "ok");
    $("stock-as-of").textContent = snap ? fmt(T.as_of, { t: hhmm(snap.as_of) }) : T.no_snapshot;
    var tasks = queue.filter(function (s) { return s.status === "refused"; }).length;
    $("task-count").textContent = String(tasks);
    $("tasks-tab").classList.toggle("alert", tasks > 0);
  }

  function renderProducts() {
    var grid = $("products");
    grid.textContent = "";
    if (!snap) { grid.appendChild(el("p", {}, T.no_snapshot)); return; }
    var q = $("search").value.trim().toLowerCase();
    snap.items.forEach(function (it) {
      if (q && it.sku.toLowerCase().indexOf(q) < 0 && it.name.toLowerCase().indexOf(q) < 0 &&
          it.name_en.toLowerCase().indexOf(q) < 0) return;
      var b = el("button", { type: "button", class: "c-product", "data-sku": it.sku });
      b.appendChild(el("span", { class: "c-name" }, name(it)));
      b.appendChild(el("span", { class: "c-price" }, "¥" + yuan(it.price_fen)));
      var n = left(it);
      b.appendChild(el("span", { class: "c-left" + (n <= 0 ? " none" : "") }, String(n) + " " + (LANG === "zh" ? it.unit : it.unit_en)));
      b.addEventListener("click", function () { add(it.sku, 1); });
      grid.appendChild(b);
    });
  }

  function cartTotal() {
    return cartOrder.reduce(function (sum, sku) { var it = item(sku); return sum + (it ? it.price_fen * cart[sku] : 0); }, 0);
  }

  function renderCart() {
    var list = $("cart-lines");
    list.textContent = "";
    if (!cartOrder.length) list.appendChild(el("li", { class: "c-dim" }, T.empty_cart));
    var over = false;
    cartOrder.forEach(function (sku) {
      var it = item(sku);
      var li = el("li", { "data-sku": sku });
      li.appendChild(el("span", { class: "c-name" }, it ? name(it) : sku));
      var minus = el("button", { type: "button", class: "c-step", "aria-label": "-1" }, "−");
      var plus = el("button", { type: "button", class: "c-step", "aria-label": "+1" }, "+");
      minus.addEventListener("click", function () { add(sku, -1); });
      plus.addEventListener("click", function () { add(sku, 1); });
      li.appendChild(minus);
      li.appendChild(el("b", { class: "c-qty" }, String(cart[sku])));
      li.appendChild(plus);
      li.appendChild(el("span", { class: "c-amount" }, yuan(it ? it.price_fen * cart[sku] : 0)));
      list.appendChild(li);
      if (it && cart[sku] > left(it)) over = true;
    });
    $("cart-total").textContent = yuan(cartTotal());
    document.querySelectorAll(".c-pay-btn").forEach(function (b) {
      b.setAttribute("aria-pressed", b.dataset.pay === pay ? "true" : "false");
    });
    $("card-code-field").hidden = pay !== "pickup_card";
    var needCard = pay === "pickup_card" && !$("card-code").value.trim();
    $("sale-warning").textContent = over ? T.over_stock : (cartOrder.length && !pay ? T.choose_pay : needCard ? T.need_card : "");
    $("record-sale").disabled = !cartOrder.length || !pay || needCard;
  }

  function renderToday() {
    var rows = $("today-sales");
    rows.textContent = "";
    var local = queue.map(function (s) { return { sale: s, tag: s.status === "waiting" ? T.waiting_tag : T.refused }; });
    var server = (snap ? snap.sales_today : []).map(function (s) { return { sale: s, tag: "" }; });
    local.concat(server).forEach(function (row) {
      var s = row.sale;
      var tr = el("tr");
      tr.appendChild(el("td", {}, hhmm(s.made_at)));
      tr.appendChild(el("td", {}, s.lines.map(function (ln) { var it = item(ln.sku); return (it ? name(it) : ln.sku) + " ×" + ln.quantity; }).join("，")));
      tr.appendChild(el("td", {}, T["pay_" + s.paid_with] || s.paid_with));
      tr.appendChild(el("td", { class: "num" }, "¥" + yuan(s.total_fen)));
      tr.appendChild(el("td", {}, row.tag));
      rows.appendChild(tr);
    });
  }

  function renderStock() {
    var rows = $("stock-table");
    rows.textContent = "";
    var units = waitingUnits();
    (snap ? snap.items : []).forEach(function (it) {
      var tr = el("tr");
      tr.appendChild(el("td", { class: "sku" }, it.sku));
      tr.appendChild(el("td", {}, name(it)));
      tr.appendChild(el("td", { class: "num" }, "¥" + yuan(it.price_fen)));
      tr.appendChild(el("td", { class: "num" }, String(it.available)));
      tr.appendChild(el("td", { class: "num" }, String(units[it.sku] || 0)));
      rows.appendChild(tr);
    });
  }

  function renderTasks() {
    var list = $("tasks");
    list.textContent = "";
    queue.filter(function (s) { return s.status === "refused"; }).forEach(function (s) {
      var li = el("li", { class: "c-task", "data-sale": s.client_sale_id });
      li.appendChild(el("strong", {}, hhmm(s.made_at) + " · ¥" + yuan(s.total_fen) + " · " + (T["pay_" + s.paid_with] || s.paid_with)));
      li.appendChild(el("span", {}, s.lines.map(function (ln) { var it = item(ln.sku); return (it ? name(it) : ln.sku) + " ×" + ln.quantity; }).join("，")));
      li.appendChild(el("p", { class: "c-error" }, T.refused + ": " + (s.problem || "")));
      var retry = el("button", { type: "button" }, T.task_retry);
      var done = el("button", { type: "button" }, T.task_dismiss);
      retry.addEventListener("click", function () {
        s.status = "waiting";
        tx("queue", "readwrite", function (st) { st.put(s); }).then(function () { renderAll(); sync(); });
      });
      done.addEventListener("click", function () {
        tx("queue", "readwrite", function (st) { st.delete(s.client_sale_id); }).then(loadQueue).then(renderAll);
      });
      li.appendChild(retry);
      li.appendChild(done);
      list.appendChild(li);
    });
  }

  function renderAll() { renderStatus(); renderProducts(); renderCart(); renderToday(); renderStock(); renderTasks(); }

  // -- the sale --
  function add(sku, n) {
    $("receipt").hidden = true;
    $("cart-panel").hidden = false;
    if (!cart[sku]) { cart[sku] = 0; cartOrder.push(sku); }
    cart[sku] += n;
    if (cart[sku] <= 0) { delete cart[sku]; cartOrder = cartOrder.filter(function (s) { return s !== sku; }); }
    renderCart();
  }

  function record() {
    if (!cartOrder.length || !pay) return;
    var sale = {
      client_sale_id: newId(),
      location: CODE,
      seq: Date.now() * 1000 + Math.floor(Math.random() * 1000),
      made_at: new Date().toISOString(),
      paid_with: pay,
      lines: cartOrder.map(function (sku) { return { sku: sku, quantity: cart[sku] }; }),
      total_fen: cartTotal(),
      status: "waiting",
    };
    if (pay === "pickup_card") sale.card_code = $("card-code").value.trim();
    $("record-sale").disabled = true;
    tx("queue", "readwrite", function (s) { s.put(sale); }).then(function () {
      queue.push(sale);
      showReceipt(sale);
      cart = {}; cartOrder = []; pay = null; $("card-code").value = "";
      renderAll();
      $("search").value = "";
      $("search").focus();
      sync();
    });
  }

  function showReceipt(sale) {
    $("receipt-time").textContent = stampFmt.format(new Date(sale.made_at)) + " (" + T.beijing_time + ")";
    var table = $("receipt-lines");
    table.textContent = "";
    sale.lines.forEach(function (ln) {
      var it = item(ln.sku);
      var tr = el("tr");
      tr.appendChild(el("td", {}, (it ? name(it) : ln.sku) + " ×" + ln.quantity));
      tr.appendChild(el("td", { class: "num" }, yuan(it ? it.price_fen * ln.quantity : 0)));
      table.appendChild(tr);
    });
    $("receipt-total").textContent = yuan(sale.total_fen);
    $("receipt-pay").textContent = T["pay_" + sale.paid_with] || sale.paid_with;
    $("receipt-id").textContent = sale.client_sale_id;
    $("receipt-aid").textContent = T.aid_wording;
    $("receipt-state").textContent = T.recorded;
    $("receipt").dataset.sale = sale.client_sale_id;
    $("cart-panel").hidden = true;
    $("receipt").hidden = false;
  }

  // -- the queue, replayed oldest first; the server judges each sale --
  function post(payload) {
    return fetch(body.dataset.syncUrl, {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify({ sales: payload }),
    });
  }

  function sync() {
    if (syncing || !navigator.onLine) { renderStatus(); return Promise.resolve(); }
    var waiting = queue.filter(function (s) { return s.status === "waiting"; }).slice(0, 200);
    syncing = true;
    var work;
    if (!waiting.length) {
      work = loadSnapshot();
    } else {
      var payload = waiting.map(function (s) {
        var p = { client_sale_id: s.client_sale_id, lines: s.lines, paid_with: s.paid_with, made_at: s.made_at };
        if (s.card_code) p.card_code = s.card_code;
        return p;
      });
      work = post(payload).then(function (resp) {
        if (resp.status === 400) return loadSnapshot().then(function () { return post(payload); });
        return resp;
      }).then(function (resp) {
        var json = (resp.headers.get("Content-Type") || "").indexOf("json") >= 0;
        if (resp.redirected || !json) { signedOut = true; return null; }
        if (!resp.ok) return null;
        return resp.json();
      }).then(function (answer) {
        if (!answer) return null;
        return tx("queue", "readwrite", function (st) {
          answer.results.forEach(function (r, i) {
            var s = waiting[i];
            if (r.status === 200 || r.status === 201) {
              st.delete(s.client_sale_id);
              if ($("receipt").dataset.sale === s.client_sale_id) $("receipt-state").textContent = T.synced;
            } else if (r.status >= 400 && r.status < 500 && r.status !== 408 && r.status !== 429) {
              s.status = "refused";
              var slug = r.problem && r.problem.type ? r.problem.type.split("/").pop() : "";
              var detail = r.problem ? r.problem.detail : String(r.status);
              s.problem = T["why_" + slug] ? T["why_" + slug] + " (" + detail + ")" : detail;
              delete s.card_code;
              st.put(s);
            }
          });
        });
      }).then(loadSnapshot);
    }
    return work.catch(function () { /* the network went away: try again later */ })
      .then(loadQueue)
      .then(function () { syncing = false; renderAll(); }, function () { syncing = false; });
  }

  // -- scanning: a USB scanner types the code and Enter into the search box; a camera where the browser reads codes --
  function scanned(code) {
    code = code.trim().toLowerCase();
    if (!snap || !code) return;
    var exact = snap.items.filter(function (it) { return it.sku.toLowerCase() === code; });
    var shown = document.querySelectorAll("#products .c-product");
    var sku = exact.length ? exact[0].sku : shown.length === 1 ? shown[0].dataset.sku : null;
    $("search-error").textContent = sku ? "" : T.no_match;
    if (sku) { add(sku, 1); $("search").value = ""; renderProducts(); }
  }
  function cameraScan() {
    var video = $("camera");
    var detector = new window.BarcodeDetector();
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (stream) {
      video.srcObject = stream; video.hidden = false; video.play();
      var stop = function () { stream.getTracks().forEach(function (t) { t.stop(); }); video.hidden = true; };
      var tries = 0;
      (function look() {
        detector.detect(video).then(function (codes) {
          if (codes.length) { stop(); scanned(codes[0].rawValue); } else if (++tries < 300) setTimeout(look, 100); else stop();
        }, stop);
      })();
    }, function () { $("search-error").textContent = T.no_match; });
  }

  function showView(name) {
    document.querySelectorAll("[data-view]").forEach(function (b) { b.classList.toggle("active", b.dataset.view === name); });
    ["sell", "today", "stock", "tasks"].forEach(function (v) { $("view-" + v).hidden = v !== name; });
  }

  function precache() {
    if (!("caches" in window) || !navigator.onLine) return Promise.resolve();
    var urls = [location.pathname].concat(body.dataset.assets.split(" "));
    return caches.open(CACHE).then(function (cache) { return cache.addAll(urls); }).catch(function () {});
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".c-pay-btn").forEach(function (b) {
      b.addEventListener("click", function () { pay = b.dataset.pay; renderCart(); if (pay === "pickup_card") $("card-code").focus(); });
    });
    $("card-code").addEventListener("input", renderCart);
    $("record-sale").addEventListener("click", record);
    $("print-receipt").addEventListener("click", function () { window.print(); });
    $("new-sale").addEventListener("click", function () { $("receipt").hidden = true; $("cart-panel").hidden = false; $("search").focus(); });
    $("search").addEventListener("input", function () { $("search-error").textContent = ""; renderProducts(); });
    $("search").addEventListener("keydown", function (e) { if (e.key === "Enter") { e.preventDefault(); scanned($("search").value); } });
    document.querySelectorAll("button[data-view]").forEach(function (b) {
      b.addEventListener("click", function () { showView(b.dataset.view); });
    });
    if ("BarcodeDetector" in window && navigator.mediaDevices) {
      $("camera-scan").hidden = false;
      $("camera-scan").addEventListener("click", cameraScan);
    }
    document.querySelectorAll("a[data-online-only]").forEach(function (a) {
      a.addEventListener("click", function (e) {
        if (!navigator.onLine) { e.preventDefault(); $("search-error").textContent = T.needs_network; showView("sell"); }
      });
    });
    window.addEventListener("online", function () { renderStatus(); sync(); });
    window.addEventListener("offline", renderStatus);
    var ready = Promise.resolve();
    if ("serviceWorker" in navigator) {
      ready = navigator.serviceWorker.register(body.dataset.swUrl, { scope: body.dataset.scope })
        .then(function () { return navigator.serviceWorker.ready; }).catch(function () {});
    }
    Promise.all([loadQueue(), loadSnapshot()]).then(function () {
      renderAll();
      return Promise.all([ready, precache()]);
    }).then(function () {
      body.dataset.ready = "1";
      sync();
      setInterval(sync, 15000);
    });
  });
})();
