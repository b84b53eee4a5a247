// The annotator workspace: asks the REST API for the next leased task, shows it (canvas for
// images, text view for text), turns keys and clicks into labels, and submits them.
//
// Keyboard first: class hotkeys pick a class, n/Enter submits and loads the next task, p goes
// back to the previous one (resubmitting corrects it), s skips with a reason, z/y undo and
// redo, b/e/r/v pick a tool, d deletes the selected shape, arrows nudge it, +/-/f zoom.
// Everything shown from task data is set with textContent or drawn on the canvas.
(function () {
  "use strict";

  var root = document.getElementById("workspace");
  if (!root) return;
  var config = JSON.parse(root.dataset.config);
  var kind = config.task_type;
  var isText = kind.indexOf("text") === 0;
  var isChoice = kind === "image_classification" || kind === "text_classification";
  var isMulti = kind === "image_multilabel";
  var shapeKey = { bboxes: "boxes", polygons: "polygons", keypoints: "instances" }[kind];
  var api = "/api/v1";
  var $ = function (id) { return document.getElementById(id); };

  var state = { shapes: [], classes: [], spans: [] };
  var history = new window.LabelHistory(state);
  var task = null, shownAt = 0, session = 0;
  var done = [];  // ids of tasks submitted in this session, for "previous"
  var fixing = root.dataset.fix ? Number(root.dataset.fix) : null;
  var userField = $("user-name");

  function user() {
    if (root.dataset.auth === "true") return root.dataset.user;
    return (userField && userField.value.trim()) || "annotator";
  }
  if (userField) {
    var params = new URLSearchParams(location.search);
    userField.value = params.get("user") || localStorage.getItem("stackml-annotator") || "annotator";
    userField.addEventListener("change", function () { localStorage.setItem("stackml-annotator", userField.value.trim()); refreshProgress(); });
  }

  function colorOf(cls) {
    var found = config.classes.find(function (c) { return c.name === cls; });
    return found ? found.color : "#888888";
  }

  // -- API ---------------------------------------------------------------------------------
  function call(method, path, body) {
    var headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET") headers["X-CSRF-Token"] = root.dataset.csrf;
    return fetch(api + path, { method: method, headers: headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body) }).then(function (r) {
      return r.json().then(function (data) {
        if (!r.ok) throw new Error((data.error && data.error.message) || r.statusText);
        return data;
      });
    });
  }
  function say(text, isError) {
    var el = $("message");
    el.textContent = text;
    el.classList.toggle("error", !!isError);
  }

  // -- the canvas and the text view ----------------------------------------------------------
  var canvas = new window.LabelCanvas($("canvas"), {
    classes: config.classes, keypoints: config.keypoints,
    kind: isChoice || isMulti ? "classification" : "shapes",
    onCommit: function () { state.shapes = canvas.shapes; history.push(state); },
    onZoom: showZoom,
  });
  var textView = new window.LabelTextView($("text-view"), { colorOf: colorOf });
  function showZoom() { $("zoom-level").textContent = Math.round(canvas.view.scale * 100) + "%"; }

  function render() {
    canvas.shapes = state.shapes;
    canvas.classLabel = isChoice ? state.classes[0] || null : isMulti ? state.classes.join(", ") || null : null;
    document.querySelectorAll(".lb-class").forEach(function (b) {
      var on = isChoice || isMulti ? state.classes.indexOf(b.dataset.class) >= 0 : b.dataset.class === canvas.cls;
      b.classList.toggle("active", on);
    });
    if (isText && task) textView.render(String(task.data.text || ""), state.spans, isChoice ? state.classes[0] : null);
    else canvas.draw();
    $("undo").disabled = !history.canUndo();
    $("redo").disabled = !history.canRedo();
  }

  // -- values --------------------------------------------------------------------------------
  function fromValue(value) {
    var s = { shapes: [], classes: [], spans: [] };
    if (!value) return s;
    if (value["class"]) s.classes = [value["class"]];
    if (value.classes) s.classes = value.classes.slice();
    (value.boxes || []).forEach(function (b) { s.shapes.push({ type: "box", cls: b["class"], x: b.x, y: b.y, w: b.w, h: b.h }); });
    (value.polygons || []).forEach(function (p) { s.shapes.push({ type: "polygon", cls: p["class"], points: p.points }); });
    (value.instances || []).forEach(function (p) { s.shapes.push({ type: "instance", cls: p["class"], points: p.points }); });
    (value.spans || []).forEach(function (p) { s.spans.push({ cls: p["class"], start: p.start, end: p.end }); });
    return s;
  }
  function toValue() {
    if (isChoice) return state.classes.length ? { "class": state.classes[0] } : null;
    if (isMulti) return { classes: state.classes.slice() };
    if (kind === "text_spans") return { spans: state.spans.map(function (s) { return { "class": s.cls, start: s.start, end: s.end }; }) };
    var out = {};
    out[shapeKey] = state.shapes.map(function (s) {
      if (s.type === "box") return { "class": s.cls, x: s.x, y: s.y, w: s.w, h: s.h };
      return { "class": s.cls, points: s.points };
    });
    return out;
  }

  // -- tasks ---------------------------------------------------------------------------------
  function show(next, initial, suggested) {
    task = next;
    shownAt = Date.now();
    state = fromValue(initial);
    state.shapes.forEach(function (s) { s.suggested = !!suggested; });
    history.reset(state);
    $("suggestion").hidden = !suggested;
    $("empty").hidden = true;
    $("task-info").textContent = "Task " + task.id + (task.key ? " · " + task.key : "") + (task.source ? " · from " + task.source : "");
    $("text-view").hidden = !isText;
    $("canvas").hidden = isText;
    if (isText) { render(); $("stage").focus(); return Promise.resolve(); }
    return new Promise(function (resolve) {
      var img = new Image();
      img.onload = function () { canvas.setImage(img, state.shapes); showZoom(); render(); resolve(); };
      img.onerror = function () { say("the image of task " + task.id + " could not be loaded", true); resolve(); };
      img.src = api + "/label-tasks/" + task.id + "/image";
      $("stage").focus();
    });
  }
  function finished() {
    task = null;
    $("empty").hidden = false;
    $("task-info").textContent = "No task left";
    root.setAttribute("data-state", "empty");
  }
  function loadNext() {
    root.setAttribute("data-state", "loading");
    return call("POST", "/label-projects/" + encodeURIComponent(config.project) + "/next", { user: user(), limit: 1 })
      .then(function (tasks) {
        if (!tasks.length) { finished(); return; }
        var t = tasks[0], pre = t.prelabel && t.prelabel.value;
        return show(t, pre, !!pre).then(function () { root.setAttribute("data-state", "ready"); });
      })
      .catch(function (e) { say(e.message, true); });
  }
  // Open a task with one of its annotations (previous task, or a reviewer's fix).
  function loadWith(taskId, annotation) {
    root.setAttribute("data-state", "loading");
    return call("GET", "/label-tasks/" + taskId).then(function (t) {
      return show(t, annotation ? annotation.value : null, false);
    }).then(function () { root.setAttribute("data-state", "ready"); }).catch(function (e) { say(e.message, true); });
  }
  function previous() {
    if (!done.length) { say("no earlier task in this session"); return; }
    var id = done.pop();
    call("GET", "/label-projects/" + encodeURIComponent(config.project) + "/annotations?task_id=" + id + "&user=" + encodeURIComponent(user()))
      .then(function (list) { return loadWith(id, list[list.length - 1]); });
  }
  function submit() {
    if (!task) return;
    var value = toValue();
    if (!value) { say("pick a class first (" + config.classes.map(function (c) { return c.hotkey; }).join(" ") + ")", true); return; }
    var id = task.id, spent = Date.now() - shownAt;
    root.setAttribute("data-state", "saving");
    var request = fixing
      ? call("POST", "/label-annotations/" + fixing + "/review", { decision: "fix", value: value, reviewer: user() })
      : call("POST", "/label-tasks/" + id + "/annotations", { user: user(), value: value, duration_ms: spent });
    request.then(function () {
      say("saved task " + id);
      if (fixing) { location.href = "/labeling/" + encodeURIComponent(config.project) + "/review"; return; }
      if (done.indexOf(id) < 0) { done.push(id); session += 1; }
      refreshProgress();
      return loadNext();
    }).catch(function (e) { root.setAttribute("data-state", "ready"); say(e.message, true); });
  }
  function skip(reason) {
    if (!task) return;
    call("POST", "/label-tasks/" + task.id + "/skip", { user: user(), reason: reason || "skipped" })
      .then(function () { say("skipped task " + task.id); $("skip-form").hidden = true; refreshProgress(); return loadNext(); })
      .catch(function (e) { say(e.message, true); });
  }
  function refreshProgress() {
    return call("GET", "/label-projects/" + encodeURIComponent(config.project) + "/progress").then(function (p) {
      $("p-done").textContent = String(p.done);
      $("p-total").textContent = String(p.total);
      $("p-mine").textContent = String(p.per_user[user()] || 0);
      $("p-session").textContent = String(session);
      $("p-bar").style.width = p.percent.toFixed(1) + "%";
    }).catch(function () { /* progress is informative only */ });
  }

  // -- editing -------------------------------------------------------------------------------
  function pickClass(name) {
    if (isChoice) { state.classes = [name]; history.push(state); }
    else if (isMulti) {
      var i = state.classes.indexOf(name);
      if (i >= 0) state.classes.splice(i, 1); else state.classes.push(name);
      history.push(state);
    } else if (kind === "text_spans") {
      var range = textView.selection();
      if (range) { state.spans.push({ cls: name, start: range[0], end: range[1] }); history.push(state); }
      canvas.cls = name;
    } else {
      canvas.setClass(name);
    }
    render();
  }
  function setTool(tool) {
    if (isText || isChoice || isMulti) return;
    if (tool === "point" && kind !== "keypoints") return;
    if (tool === "polygon" && kind !== "polygons") return;
    if (tool === "box" && kind !== "bboxes") return;
    canvas.setTool(tool);
    document.querySelectorAll("[data-tool]").forEach(function (b) { b.setAttribute("aria-pressed", String(b.dataset.tool === tool)); });
  }
  function undo() { state = history.undo(); canvas.selected = -1; render(); }
  function redo() { state = history.redo(); canvas.selected = -1; render(); }

  // -- wiring --------------------------------------------------------------------------------
  document.querySelectorAll("[data-tool]").forEach(function (b) {
    var usable = { box: kind === "bboxes", polygon: kind === "polygons", point: kind === "keypoints", select: !!shapeKey }[b.dataset.tool];
    b.hidden = !usable;
    b.addEventListener("click", function () { setTool(b.dataset.tool); });
  });
  document.querySelectorAll(".lb-class").forEach(function (b) { b.addEventListener("click", function () { pickClass(b.dataset.class); }); });
  $("text-view").addEventListener("click", function (e) {
    var mark = e.target.closest("mark");
    if (!mark || window.getSelection().toString()) return;
    state.spans.splice(Number(mark.dataset.index), 1);
    history.push(state);
    render();
  });
  $("zoom-in").addEventListener("click", function () { canvas.zoomBy(1.25); showZoom(); });
  $("zoom-out").addEventListener("click", function () { canvas.zoomBy(0.8); showZoom(); });
  $("zoom-fit").addEventListener("click", function () { canvas.fit(); showZoom(); });
  $("undo").addEventListener("click", undo);
  $("redo").addEventListener("click", redo);
  $("prev").addEventListener("click", previous);
  $("submit").addEventListener("click", submit);
  $("skip").addEventListener("click", openSkip);
  $("skip-cancel").addEventListener("click", function () { $("skip-form").hidden = true; $("stage").focus(); });
  $("skip-form").addEventListener("submit", function (e) { e.preventDefault(); skip($("skip-reason").value.trim()); });
  function openSkip() { $("skip-form").hidden = false; $("skip-reason").value = ""; $("skip-reason").focus(); }

  var hotkeys = {};
  config.classes.forEach(function (c) { if (c.hotkey) hotkeys[c.hotkey] = c.name; });
  document.addEventListener("keyup", function (e) { if (e.key === " ") canvas.spaceDown = false; });
  document.addEventListener("keydown", function (e) {
    var typing = e.target.closest && e.target.closest("input, textarea, select");
    if (typing) { if (e.key === "Escape") { e.target.blur(); $("skip-form").hidden = true; } return; }
    var key = e.key.toLowerCase(), handled = true, selectedShape = canvas.selected >= 0;
    if ((e.ctrlKey || e.metaKey) && key === "z") { if (e.shiftKey) redo(); else undo(); }
    else if ((e.ctrlKey || e.metaKey) && key === "y") redo();
    else if (e.ctrlKey || e.metaKey || e.altKey) handled = false;
    else if (hotkeys[key]) pickClass(hotkeys[key]);
    else if (key === "enter") { if (!canvas.closePolygon()) submit(); }
    else if (key === "n") submit();
    else if (key === "p") previous();
    else if (key === "s") openSkip();
    else if (key === "z") undo();
    else if (key === "y") redo();
    else if (key === "b") setTool("box");
    else if (key === "e") setTool("polygon");
    else if (key === "r") setTool("point");
    else if (key === "v") setTool("select");
    else if (key === "d" || key === "delete" || key === "backspace") canvas.deleteSelected();
    else if (key === "escape") canvas.cancelDraft();
    else if (key === "+" || key === "=") { canvas.zoomBy(1.25); showZoom(); }
    else if (key === "-") { canvas.zoomBy(0.8); showZoom(); }
    else if (key === "f") { canvas.fit(); showZoom(); }
    else if (key === " ") canvas.spaceDown = true;
    else if (key.indexOf("arrow") === 0 && selectedShape) {
      var step = e.shiftKey ? 10 : 1;
      canvas.nudge(key === "arrowleft" ? -step : key === "arrowright" ? step : 0, key === "arrowup" ? -step : key === "arrowdown" ? step : 0);
    } else handled = false;
    if (handled) { e.preventDefault(); render(); }
  });

  setTool(shapeKey ? (kind === "bboxes" ? "box" : kind === "polygons" ? "polygon" : "point") : "select");
  refreshProgress();
  if (fixing && root.dataset.task) {
    call("GET", "/label-annotations/" + fixing).then(function (a) { return loadWith(Number(root.dataset.task), a); });
  } else if (root.dataset.task) {
    loadWith(Number(root.dataset.task), null);
  } else {
    loadNext();
  }
  window.stackmlAnnotator = { state: function () { return state; }, task: function () { return task; }, canvas: canvas };
})();
