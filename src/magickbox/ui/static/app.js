// MagickBox web page: a little plain JS on top of server-rendered pages (no build step, no CDN).
// Everything received from the box goes into the page as server-escaped HTML or as textContent.
"use strict";

(function () {
  const TOKEN_KEY = "magickbox.token";
  const body = document.body;
  const endpoints = JSON.parse(body.dataset.endpoints || "{}");

  // ---- small helpers ---------------------------------------------------------------------------
  function notice(text, isError) {
    const box = document.getElementById("notice");
    if (!box) { return; }
    box.textContent = text;
    box.classList.toggle("error", !!isError);
    box.hidden = false;
    clearTimeout(notice.timer);
    notice.timer = setTimeout(function () { box.hidden = true; }, isError ? 8000 : 3500);
  }

  function endpoint(name, values) {
    const spec = endpoints[name] || "";
    const parts = spec.split(" ");
    const method = parts.length > 1 ? parts[0] : "GET";
    let url = parts.length > 1 ? parts[1] : parts[0];
    Object.keys(values || {}).forEach(function (key) {
      url = url.split("{" + key + "}").join(encodeURIComponent(values[key]));
    });
    return { method: method, url: url };
  }

  function storedToken() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ""; } catch (e) { return ""; }
  }

  function askToken(message) {
    const dialog = document.getElementById("token-dialog");
    if (!dialog || typeof dialog.showModal !== "function") {
      return Promise.resolve(window.prompt(message || "API token") || "");
    }
    const form = document.getElementById("token-form");
    const error = document.getElementById("token-error");
    error.hidden = !message;
    error.textContent = message || "";
    form.reset();
    return new Promise(function (resolve) {
      dialog.addEventListener("close", function once() {
        dialog.removeEventListener("close", once);
        const value = dialog.returnValue === "ok" ? form.elements.token.value.trim() : "";
        if (value) { try { sessionStorage.setItem(TOKEN_KEY, value); } catch (e) { /* private mode */ } }
        resolve(value);
      });
      dialog.showModal();
    });
  }

  // Calls the HTTP API. The token travels in a header, which a foreign site cannot make the
  // browser send: that is what keeps these state changes safe from cross-site forgery.
  async function callApi(method, url, payload, contentType) {
    for (let attempt = 0; attempt < 3; attempt++) {
      // The audit log's `via`: a label (a foreign page cannot make a browser send it), not a credential.
      const headers = { "Accept": "application/json", "X-MagickBox-Client": "web" };
      const token = storedToken();
      if (token) { headers["Authorization"] = "Bearer " + token; }
      if (payload !== undefined) { headers["Content-Type"] = contentType || "application/json"; }
      const response = await fetch(url, { method: method, headers: headers, body: payload, credentials: "same-origin" });
      if (response.status !== 401 && response.status !== 403) { return response; }
      const message = attempt === 0 && !token ? "" : "The box refused the token (" + response.status + ").";
      const fresh = await askToken(message);
      if (!fresh) { return response; }
    }
    throw new Error("no accepted token");
  }

  async function errorText(response) {
    const text = await response.text();
    try {
      const data = JSON.parse(text);
      if (data && (data.error || data.detail)) {
        return [data.error, typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail)]
          .filter(Boolean).join(": ");
      }
    } catch (e) { /* plain text */ }
    return text.slice(0, 300) || response.statusText;
  }

  // ---- session actions (table rows and the session page) ---------------------------------------
  const ACTIONS = {
    delete: { confirm: "Delete session {label}? Its INPUT and OUTPUT are removed for good.", done: "Deleted {label}." },
    cancel: { confirm: "Cancel the processing of {label}?", done: "Cancel requested for {label}." },
    rerun: { confirm: "", done: "{label} is queued again." },
    keep: { confirm: "", done: "{label} is kept: housekeeping never deletes it." },
    unkeep: { confirm: "", done: "{label} is no longer kept." },
    remove_input: { confirm: "Remove the INPUT of {label}? The files are removed for good.", done: "INPUT of {label} removed." },
    remove_output: { confirm: "Remove the OUTPUT of {label}? The files are removed for good.", done: "OUTPUT of {label} removed." },
  };

  async function sessionAction(button) {
    const name = button.dataset.action;
    const spec = ACTIONS[name];
    const scratchdir = button.dataset.scratchdir;
    const label = button.dataset.label || scratchdir;
    if (spec.confirm && !window.confirm(spec.confirm.replace("{label}", label))) { return; }
    const target = endpoint(name, { scratchdir: scratchdir });
    button.disabled = true;
    try {
      const response = await callApi(target.method, target.url);
      if (!response.ok) { notice(name + " failed: " + await errorText(response), true); return; }
      notice(spec.done.replace("{label}", label), false);
      if (button.dataset.after) { window.location.assign(button.dataset.after); return; }
      if (document.getElementById("live-log")) { window.location.reload(); return; }
      refreshRows(true);
    } catch (error) {
      notice(name + " failed: " + error.message, true);
    } finally {
      button.disabled = false;
    }
  }

  async function retryDelivery(button) {
    const target = endpoint("delivery_retry", { delivery: button.dataset.delivery });
    button.disabled = true;
    try {
      const response = await callApi(target.method, target.url);
      if (!response.ok) { notice("Send again failed: " + await errorText(response), true); return; }
      notice("The delivery will be sent again.", false);
      setTimeout(function () { window.location.reload(); }, 800);
    } finally {
      button.disabled = false;
    }
  }

  // Downloads are plain links (the browser streams the zip); with a token, it rides in the query.
  function download(link, event) {
    const token = storedToken();
    if (!token || body.dataset.tokens !== "on") { return; }
    event.preventDefault();
    const url = new URL(link.href, window.location.href);
    url.searchParams.set("token", token);
    window.location.assign(url.toString());
  }

  function copy(button) {
    const text = button.dataset.copy;
    const done = function () { notice("Copied: " + text, false); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { copyFallback(text); done(); });
    } else {
      copyFallback(text);
      done();
    }
  }

  function copyFallback(text) {
    // http:// pages on another host have no clipboard API: select a hidden textarea and copy.
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } catch (e) { /* nothing more to try */ }
    area.remove();
  }

  document.addEventListener("click", function (event) {
    const target = event.target.closest("[data-action], [data-download], [data-copy], [data-routing], [data-notify]");
    if (!target) { return; }
    if (target.dataset.action === "retry") { retryDelivery(target); }
    else if (target.dataset.action) { sessionAction(target); }
    else if (target.hasAttribute("data-download")) { download(target, event); }
    else if (target.dataset.copy) { copy(target); }
    else if (target.dataset.routing) { routing(target.dataset.routing); }
    else if (target.dataset.notify) { notify(target); }
  });

  // ---- sessions table: polls the rows; the server answers 304 while nothing changed -------------
  const rows = document.getElementById("session-rows");
  const filters = document.getElementById("filters");
  let etag = "";
  let polling = null;

  function filterQuery() {
    const params = new URLSearchParams(new FormData(filters));
    for (const [key, value] of Array.from(params.entries())) { if (!value) { params.delete(key); } }
    return params.toString();
  }

  async function refreshRows(force) {
    if (!rows) { return; }
    const query = filterQuery();
    const headers = {};
    if (etag && !force) { headers["If-None-Match"] = etag; }
    let response;
    try {
      response = await fetch("/ui/sessions/rows" + (query ? "?" + query : ""), { headers: headers, cache: "no-store" });
    } catch (e) {
      return; // the box is restarting: try again at the next tick
    }
    if (response.status === 401) { window.location.assign("/ui/login?next=" + encodeURIComponent(window.location.pathname)); return; }
    if (response.status === 304 || !response.ok) { return; }
    etag = response.headers.get("ETag") || "";
    const before = new Map(Array.from(rows.querySelectorAll("tr[data-scratchdir]"))
      .map(function (tr) { return [tr.dataset.scratchdir, tr.dataset.state]; }));
    rows.innerHTML = await response.text(); // rendered and escaped by the server's templates
    rows.querySelectorAll("tr[data-scratchdir]").forEach(function (tr) {
      if (before.size && before.get(tr.dataset.scratchdir) !== tr.dataset.state) { tr.classList.add("flash"); }
    });
    const matching = response.headers.get("X-Matching");
    const total = response.headers.get("X-Total");
    const summary = document.getElementById("table-summary");
    if (summary && matching !== null) {
      const shown = rows.querySelectorAll("tr[data-scratchdir]").length;
      summary.textContent = matching + " of " + total + (Number(matching) > shown ? " (newest " + shown + " shown)" : "");
    }
    const count = document.getElementById("session-count");
    if (count && total !== null) { count.textContent = total; }
  }

  if (rows && filters) {
    let debounce = null;
    const changed = function () {
      clearTimeout(debounce);
      debounce = setTimeout(function () {
        const query = filterQuery();
        history.replaceState(null, "", "/" + (query ? "?" + query : ""));
        refreshRows(true);
      }, 200);
    };
    filters.addEventListener("input", changed);
    filters.addEventListener("submit", function (event) { event.preventDefault(); changed(); });
    polling = setInterval(function () { if (!document.hidden) { refreshRows(false); } }, 1500);
  }

  // ---- durations of running sessions tick in the browser ----------------------------------------
  function formatSeconds(seconds) {
    seconds = Math.max(0, seconds);
    if (seconds < 10) { return seconds.toFixed(1) + " s"; }
    if (seconds < 60) { return Math.floor(seconds) + " s"; }
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) { return minutes + " min " + String(Math.floor(seconds % 60)).padStart(2, "0") + " s"; }
    return Math.floor(minutes / 60) + " h " + String(minutes % 60).padStart(2, "0") + " min";
  }
  setInterval(function () {
    const now = Date.now() / 1000;
    document.querySelectorAll("[data-since]").forEach(function (cell) {
      cell.textContent = formatSeconds(now - Number(cell.dataset.since));
    });
  }, 1000);

  // ---- live log on the session page ---------------------------------------------------------------
  const log = document.getElementById("live-log");
  if (log) {
    let offset = 0;
    let first = true;
    let live = log.dataset.live === "1";
    const stateBadge = document.getElementById("session-state");
    const initialState = stateBadge.dataset.state;
    const initialRouting = stateBadge.dataset.routing;
    const status = document.getElementById("log-status");
    const poll = async function () {
      let response;
      try {
        const query = first ? "?tail=1" : "?offset=" + offset;
        response = await fetch(log.dataset.url + query, { cache: "no-store" });
      } catch (e) {
        return;
      }
      if (!response.ok) { if (status) { status.textContent = "The log is not available (" + response.status + ")."; } return; }
      const data = await response.json();
      const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
      if (first && data.start > 0) {
        log.textContent = "… the first " + data.start + " bytes are not shown here: see the raw log.\n";
      }
      first = false;
      if (data.offset < offset) { log.textContent = ""; }
      if (data.text) { log.append(document.createTextNode(data.text)); }
      offset = data.offset;
      if (atBottom) { log.scrollTop = log.scrollHeight; }
      if (data.offset < data.size) { setTimeout(poll, 0); return; } // more than one chunk waiting
      const stillLive = ["receiving", "queued", "running"].indexOf(data.state) >= 0 || data.routing === "pending";
      if (data.state !== initialState || data.routing !== initialRouting) {
        // The session moved on (e.g. finished): show its new state, proc.json and files.
        if (status) { status.textContent = "Session is " + data.state + "; refreshing…"; }
        setTimeout(function () { window.location.reload(); }, 600);
        return;
      }
      if (live && !stillLive) { live = false; }
      if (live) { setTimeout(poll, 1000); }
    };
    poll();
  }

  // ---- buckets: enable / disable ------------------------------------------------------------------
  document.addEventListener("change", async function (event) {
    const box = event.target.closest("[data-bucket-toggle]");
    if (!box) { return; }
    const bucket = box.dataset.bucketToggle;
    const wanted = box.checked;
    const target = endpoint(wanted ? "bucket_enable" : "bucket_disable", { bucket: bucket });
    box.disabled = true;
    try {
      const response = await callApi(target.method, target.url);
      if (!response.ok) {
        box.checked = !wanted;
        notice("Could not " + (wanted ? "enable " : "disable ") + bucket + ": " + await errorText(response), true);
        return;
      }
      box.nextElementSibling.textContent = wanted ? "enabled" : "disabled";
      notice(bucket + (wanted ? " enabled." : " disabled."), false);
    } finally {
      box.disabled = false;
    }
  });

  // ---- routing editor: check, then save; errors listed one per line -----------------------------
  function showRoutingErrors(lines) {
    const list = document.getElementById("routing-errors");
    list.textContent = "";
    lines.forEach(function (line) {
      const item = document.createElement("li");
      item.textContent = line;
      list.appendChild(item);
    });
    list.hidden = lines.length === 0;
  }

  function errorLines(data, fallback) {
    const detail = data && (data.errors || data.detail);
    if (Array.isArray(detail)) {
      return detail.map(function (item) {
        if (typeof item === "string") { return item; }
        const where = Array.isArray(item.loc) ? item.loc.join(".") : (item.loc || item.path || "");
        return (where ? where + ": " : "") + (item.msg || item.message || JSON.stringify(item));
      });
    }
    if (typeof detail === "string") { return [detail]; }
    return [fallback];
  }

  async function routing(what) {
    const text = document.getElementById("routing-text").value;
    const result = document.getElementById("routing-result");
    result.className = "";
    result.textContent = what === "save" ? "Saving…" : "Checking…";
    try {
      JSON.parse(text);
    } catch (e) {
      result.className = "bad";
      result.textContent = "Not saved.";
      showRoutingErrors(["not valid JSON: " + e.message]);
      return;
    }
    // Check with the routing stage's own validator; then save through the API (which checks again).
    const check = endpoint("routing_validate");
    let response = await callApi(check.method, check.url, text, "text/plain");
    if (response.ok && what === "save") {
      const save = endpoint("routing_save");
      response = await callApi(save.method, save.url, text, "application/json");
    }
    if (response.ok) {
      showRoutingErrors([]);
      result.className = "ok";
      result.textContent = what === "save" ? "Saved." : "Valid: the box would accept this file.";
      if (what === "save") { setTimeout(function () { window.location.reload(); }, 700); }
      return;
    }
    const raw = await response.text();
    let data = null;
    try { data = JSON.parse(raw); } catch (e) { /* not JSON */ }
    result.className = "bad";
    result.textContent = what === "save" ? "Not saved." : "Invalid.";
    showRoutingErrors(errorLines(data, raw.slice(0, 300) || response.statusText));
  }

  // ---- notifications: save notifications.json (checked by the API), send a test event ------------
  async function notify(button) {
    const result = document.getElementById("notify-result");
    if (button.dataset.notify === "test") {
      const test = endpoint("notifications_test");
      const response = await callApi(test.method, test.url, JSON.stringify({ url: button.dataset.url }));
      if (response.ok) { notice("Test event queued for " + button.dataset.url + "."); }
      else { notice(await errorText(response), true); }
      if (response.ok) { setTimeout(function () { window.location.reload(); }, 1500); }
      return;
    }
    const list = document.getElementById("notify-errors");
    const save = endpoint("notifications_save");
    const response = await callApi(save.method, save.url, document.getElementById("notify-text").value);
    const raw = await response.text();
    let data = null;
    try { data = JSON.parse(raw); } catch (e) { /* not JSON */ }
    list.textContent = "";
    const lines = response.ok ? [] : errorLines(data, raw.slice(0, 300) || response.statusText);
    lines.forEach(function (line) {
      const item = document.createElement("li");
      item.textContent = line;
      list.appendChild(item);
    });
    list.hidden = lines.length === 0;
    result.className = response.ok ? "ok" : "bad";
    result.textContent = response.ok ? "Saved." : "Not saved.";
    if (response.ok) { setTimeout(function () { window.location.reload(); }, 700); }
  }

  // The login form keeps the token for this tab too, so buttons can send it to the API.
  const loginForm = document.getElementById("login-form");
  if (loginForm) {
    loginForm.addEventListener("submit", function () {
      try { sessionStorage.setItem(TOKEN_KEY, loginForm.elements.token.value.trim()); } catch (e) { /* private mode */ }
    });
  }
  window.addEventListener("pagehide", function () { if (polling) { clearInterval(polling); } });
})();
