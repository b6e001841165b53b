// The series viewer: the box renders each instance at display size; this script only picks which
// instance, which window and which size, and prefetches the neighbours so paging does not stall.
"use strict";

(function () {
  const root = document.getElementById("viewer");
  if (!root) { return; }
  const base = root.dataset.base;
  const count = parseInt(root.dataset.count, 10);
  const stage = document.getElementById("viewer-stage");
  const img = document.getElementById("viewer-image");
  const position = document.getElementById("viewer-position");
  const slider = document.getElementById("viewer-slider");
  const download = document.getElementById("viewer-download");
  const tagList = document.getElementById("viewer-tags");
  const windowLabel = document.getElementById("viewer-window");
  const PREFETCH = 3;
  let index = parseInt(root.dataset.start, 10) || 0;
  let win = null; // [centre, width], or null: the file's own window (or the box's automatic one)
  let tags = [];
  const prefetched = new Map();

  function displaySize() {
    // Steps of 256 px keep the box's cache useful while the window is resized.
    const wanted = Math.max(stage.clientWidth, 128) * (window.devicePixelRatio || 1);
    return Math.min(2048, Math.max(256, Math.ceil(wanted / 256) * 256));
  }

  function url(i) {
    let query = "?size=" + displaySize();
    if (win) { query += "&wc=" + Math.round(win[0]) + "&ww=" + Math.max(1, Math.round(win[1])); }
    return base + "/instances/" + i + "/image.png" + query;
  }

  function prefetch() {
    for (let d = -PREFETCH; d <= PREFETCH; d += 1) {
      const i = index + d;
      if (d === 0 || i < 0 || i >= count) { continue; }
      const address = url(i);
      if (prefetched.has(address)) { continue; }
      const early = new Image();
      early.src = address;
      prefetched.set(address, early);
    }
    if (prefetched.size > 60) { prefetched.clear(); }
  }

  function showTags() {
    const item = tags[index];
    tagList.textContent = "";
    if (!item) { return; }
    Object.keys(item.tags).forEach(function (name) {
      const dt = document.createElement("dt");
      const dd = document.createElement("dd");
      dt.textContent = name;
      dd.textContent = item.tags[name];
      tagList.append(dt, dd);
    });
  }

  function show() {
    img.src = url(index);
    img.alt = "instance " + (index + 1);
    position.textContent = (index + 1) + " / " + count;
    slider.value = String(index + 1);
    download.href = base + "/instances/" + index + "/file";
    windowLabel.textContent = win ? "C " + Math.round(win[0]) + " W " + Math.round(win[1]) : "";
    showTags();
    prefetch();
  }

  function go(to) {
    const next = Math.min(count - 1, Math.max(0, to));
    if (next !== index) { index = next; show(); }
  }

  function startWindow() {
    // Dragging starts from the window shown: a preset, else the file's, else a wide guess.
    if (win) { return win.slice(); }
    const t = (tags[index] || {}).tags || {};
    const c = parseFloat(String(t.WindowCenter || "").split("\\")[0]);
    const w = parseFloat(String(t.WindowWidth || "").split("\\")[0]);
    return isFinite(c) && isFinite(w) && w > 0 ? [c, w] : [40, 400];
  }

  document.addEventListener("keydown", function (event) {
    if (event.target instanceof HTMLInputElement && event.target !== slider) { return; }
    const steps = { ArrowDown: 1, ArrowRight: 1, PageDown: 10, ArrowUp: -1, ArrowLeft: -1, PageUp: -10 };
    if (event.key in steps) { go(index + steps[event.key]); event.preventDefault(); }
    else if (event.key === "Home") { go(0); event.preventDefault(); }
    else if (event.key === "End") { go(count - 1); event.preventDefault(); }
  });
  stage.addEventListener("wheel", function (event) {
    event.preventDefault();
    go(index + (event.deltaY > 0 ? 1 : -1));
  }, { passive: false });
  root.querySelectorAll("[data-step]").forEach(function (button) {
    button.addEventListener("click", function () { go(index + parseInt(button.dataset.step, 10)); });
  });
  slider.addEventListener("input", function () { go(parseInt(slider.value, 10) - 1); });
  root.querySelectorAll("[data-window]").forEach(function (button) {
    button.addEventListener("click", function () {
      const parts = button.dataset.window.split(",").map(parseFloat);
      win = parts.length === 2 ? parts : null;
      prefetched.clear();
      show();
    });
  });

  let drag = null;
  stage.addEventListener("pointerdown", function (event) {
    drag = { x: event.clientX, y: event.clientY, from: startWindow() };
    stage.setPointerCapture(event.pointerId);
  });
  stage.addEventListener("pointermove", function (event) {
    if (!drag) { return; }
    const dx = event.clientX - drag.x;
    const dy = event.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) < 4) { return; }
    const scale = Math.max(drag.from[1], 10) / 200; // a 200-px drag doubles (or halves) the width
    win = [drag.from[0] + dy * scale, Math.max(1, drag.from[1] + dx * scale)];
  });
  stage.addEventListener("pointerup", function () {
    if (drag && win) { prefetched.clear(); show(); }
    drag = null;
  });

  fetch(base + "/instances.json", { credentials: "same-origin" })
    .then(function (response) { return response.ok ? response.json() : []; })
    .then(function (items) { tags = items; showTags(); prefetch(); })
    .catch(function () { /* the image still pages without the tag list */ });
  stage.focus();
}());
