// Hall counter service worker (scope /counter/): network first, the last good copy when offline.
// The catalogue and the sales queue live in IndexedDB (counter.js); this only keeps pages and assets.
"use strict";
var CACHE = "gangu-counter-v1";

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

self.addEventListener("fetch", function (event) {
  var req = event.request;
  if (req.method !== "GET") return;
  var url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.slice(-14) === "/snapshot.json") return; // the page falls back to IndexedDB
  if (url.pathname.indexOf("/counter/") !== 0 && url.pathname.indexOf("/static/") !== 0) return;
  event.respondWith(
    fetch(req).then(function (resp) {
      if (resp.ok && resp.type === "basic" && !resp.redirected) {
        var copy = resp.clone();
        caches.open(CACHE).then(function (cache) { cache.put(url.pathname, copy); });
      }
      return resp;
    }).catch(function () {
      return caches.open(CACHE).then(function (cache) {
        return cache.match(url.pathname).then(function (hit) { return hit || Response.error(); });
      });
    })
  );
});
