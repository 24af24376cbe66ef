// The reset page: takes the code from the link's fragment (never sent to a server in a URL),
// checks the two passwords agree, and confirms through the API; no script at all still works
// (the form posts to /reset-password).
"use strict";
(function () {
  const form = document.getElementById("reset-form");
  if (!form) return;
  const token = document.getElementById("reset-token");
  const error = document.getElementById("reset-error");
  const fragment = new URLSearchParams(window.location.hash.slice(1));
  if (fragment.get("token")) {
    token.value = fragment.get("token");
    document.getElementById("token-row").hidden = true;
    history.replaceState(null, "", window.location.pathname);  // the code leaves the address bar
  }
  function fail(message) {
    error.textContent = message;
    error.hidden = false;
  }
  const messages = JSON.parse(form.dataset.messages || "{}");
  function say(text) {
    const plain = String(text || "").replace(/^Value error, /, "");  // pydantic's prefix
    return messages[plain] || plain;
  }
  function detail(body) {
    if (!body) return form.dataset.failed;
    if (typeof body.detail === "string") return say(body.detail);
    if (Array.isArray(body.detail)) return body.detail.map(function (d) { return say(d.msg); }).join("; ");
    return form.dataset.failed;
  }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const password = document.getElementById("new-password").value;
    if (!token.value.trim()) return fail(form.dataset.noToken);
    if (password.length < Number(form.dataset.min)) return fail(form.dataset.tooShort);
    if (password !== document.getElementById("new-password-again").value) return fail(form.dataset.mismatch);
    document.getElementById("reset-submit").disabled = true;
    fetch("/auth/password-reset/confirm", {
      method: "POST",
      headers: {"Content-Type": "application/json", "Accept-Language": document.documentElement.lang},
      body: JSON.stringify({token: token.value.trim(), new_password: password}),
      credentials: "omit",
    }).then(function (response) {
      if (response.ok) {
        document.getElementById("reset-form-section").hidden = true;
        document.getElementById("reset-done").hidden = false;
        return;
      }
      return response.json().catch(function () { return null; }).then(function (body) { fail(detail(body)); });
    }).catch(function () { fail(form.dataset.failed); }).finally(function () {
      document.getElementById("reset-submit").disabled = false;
    });
  });
})();
