// The retrievals page: start one, C-ECHO a PACS, keep the table live. The API token (if the
// box has tokens) is the one the main script keeps in sessionStorage.
(function () {
  "use strict";
  const TOKEN_KEY = "magickbox.token";

  function headers() {
    const result = { "Accept": "application/json", "Content-Type": "application/json", "X-MagickBox-Client": "web" };
    let token = "";
    try { token = sessionStorage.getItem(TOKEN_KEY) || ""; } catch (e) { token = ""; }
    if (token) { result["Authorization"] = "Bearer " + token; }
    return result;
  }

  async function post(url, body) {
    const response = await fetch(url, { method: "POST", headers: headers(), body: JSON.stringify(body), credentials: "same-origin" });
    const data = await response.json().catch(function () { return {}; });
    return { ok: response.ok, status: response.status, data: data };
  }

  const form = document.getElementById("retrieval-form");
  if (form) {
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      const keys = form.elements.keys.value.split(/\r?\n/).map(function (k) { return k.trim(); }).filter(Boolean);
      const result = document.getElementById("retrieval-result");
      const answer = await post("/api/v1/retrievals", {
        pacs: form.elements.pacs.value, bucket: form.elements.bucket.value,
        key_type: form.elements.key_type.value, keys: keys,
      });
      result.textContent = answer.ok ? "retrieval " + answer.data.id + " started" :
        "refused (" + answer.status + "): " + (answer.data.error || "") + " " + JSON.stringify(answer.data.detail || "");
      if (answer.ok) { form.elements.keys.value = ""; refresh(); }
    });
  }

  document.addEventListener("click", async function (event) {
    const button = event.target.closest("[data-pacs-echo]");
    if (!button) { return; }
    const name = button.dataset.pacsEcho;
    const out = document.querySelector('[data-echo-result="' + CSS.escape(name) + '"]');
    out.textContent = "…";
    const answer = await post("/api/v1/pacs/" + encodeURIComponent(name) + "/echo", {});
    out.textContent = answer.ok && answer.data.ok ? "success" : "failed: " + (answer.data.error || answer.data.status || answer.status);
  });

  const table = document.getElementById("retrievals-table");
  async function refresh() {
    const response = await fetch(table.dataset.url, { cache: "no-store", credentials: "same-origin" });
    if (response.ok) { table.innerHTML = await response.text(); }
  }
  if (table) { setInterval(refresh, 2000); }
})();
