// The day's dashboard follows the scan feed (server-sent events in the panel's session: no
// token in any URL) and reloads its content, at most once a second, when a scan arrives.
"use strict";
(function () {
  const root = document.getElementById("dashboard");
  if (!root || !window.EventSource) return;
  let pending = null;
  function refresh() {
    pending = null;
    fetch(window.location.href, {credentials: "same-origin"}).then(function (r) { return r.text(); }).then(function (html) {
      const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("dashboard");
      if (fresh) root.innerHTML = fresh.innerHTML;
    });
  }
  const feed = new EventSource(root.dataset.feed);
  feed.addEventListener("scan", function () {
    if (!pending) pending = setTimeout(refresh, 1000);
  });
  feed.addEventListener("open", function () { document.body.dataset.live = "on"; });
})();
