// The annotation canvas: an image with boxes, polygons or keypoint instances drawn over it.
//
// Coordinates of shapes are image pixels; the view maps them to the screen with a scale and
// an offset (zoom with the wheel or +/-, pan with space + drag or the middle button). Every
// point a user places or drags is clamped to the image ("snaps to the bounds"), so a shape
// never leaves the picture. Shapes:
//   {type: "box", cls, x, y, w, h}
//   {type: "polygon", cls, points: [[x, y], ...]}
//   {type: "instance", cls, points: [[x, y, v], ...]}   (one point per keypoint name)
// The canvas calls `onCommit()` after each finished edit; the page records history then.
(function () {
  "use strict";

  var HANDLE = 6; // half-size of a resize handle, in screen pixels

  function LabelCanvas(canvas, options) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.opts = options;
    this.image = null;
    this.shapes = [];
    this.selected = -1;
    this.tool = "select";
    this.cls = options.classes.length ? options.classes[0].name : "";
    this.view = { scale: 1, ox: 0, oy: 0 };
    this.drag = null;      // what the pointer is doing: draw, move, resize, pan
    this.draft = null;     // a polygon or keypoint instance being placed
    this.spaceDown = false;
    this.classLabel = null; // the chosen class of classification tasks, drawn as a chip
    this._bind();
  }

  LabelCanvas.prototype.color = function (cls) {
    var found = this.opts.classes.find(function (c) { return c.name === cls; });
    return found ? found.color : "#888888";
  };

  // -- view --------------------------------------------------------------------------------
  LabelCanvas.prototype.resize = function () {
    var rect = this.canvas.getBoundingClientRect();
    var ratio = window.devicePixelRatio || 1;
    this.canvas.width = Math.max(1, Math.round(rect.width * ratio));
    this.canvas.height = Math.max(1, Math.round(rect.height * ratio));
    this.ratio = ratio;
    this.draw();
  };
  LabelCanvas.prototype.fit = function () {
    if (!this.image) return;
    var w = this.canvas.width / this.ratio, h = this.canvas.height / this.ratio;
    var s = Math.min((w - 40) / this.image.width, (h - 40) / this.image.height);
    this.view.scale = Math.max(s, 0.05);
    this.view.ox = (w - this.image.width * this.view.scale) / 2;
    this.view.oy = (h - this.image.height * this.view.scale) / 2;
    this.draw();
  };
  // Zoom by `factor` around a screen point (default: the centre).
  LabelCanvas.prototype.zoomBy = function (factor, sx, sy) {
    if (sx === undefined) { sx = this.canvas.width / this.ratio / 2; sy = this.canvas.height / this.ratio / 2; }
    var s = Math.min(Math.max(this.view.scale * factor, 0.05), 80);
    var ix = (sx - this.view.ox) / this.view.scale, iy = (sy - this.view.oy) / this.view.scale;
    this.view.scale = s;
    this.view.ox = sx - ix * s;
    this.view.oy = sy - iy * s;
    this.draw();
  };
  LabelCanvas.prototype.toImage = function (sx, sy) {
    return [(sx - this.view.ox) / this.view.scale, (sy - this.view.oy) / this.view.scale];
  };
  // Snap a point to the image bounds.
  LabelCanvas.prototype.clamp = function (p) {
    var w = this.image ? this.image.width : Infinity, h = this.image ? this.image.height : Infinity;
    return [Math.min(Math.max(p[0], 0), w), Math.min(Math.max(p[1], 0), h)];
  };

  // -- state -------------------------------------------------------------------------------
  LabelCanvas.prototype.setImage = function (image, shapes) {
    this.image = image;
    this.shapes = shapes || [];
    this.selected = -1;
    this.draft = null;
    this.resize();
    this.fit();
  };
  LabelCanvas.prototype.setShapes = function (shapes) {
    this.shapes = shapes;
    if (this.selected >= shapes.length) this.selected = -1;
    this.draw();
  };
  LabelCanvas.prototype.setTool = function (tool) {
    this.tool = tool;
    this.draft = null;
    this.canvas.parentElement.setAttribute("data-tool", tool);
    this.draw();
  };
  // Pick the class for new shapes; a selected shape takes it too.
  LabelCanvas.prototype.setClass = function (cls) {
    this.cls = cls;
    if (this.selected >= 0) {
      this.shapes[this.selected].cls = cls;
      this.shapes[this.selected].suggested = false;
      this.opts.onCommit();
    }
    this.draw();
  };
  LabelCanvas.prototype.deleteSelected = function () {
    if (this.selected < 0) return false;
    this.shapes.splice(this.selected, 1);
    this.selected = -1;
    this.opts.onCommit();
    this.draw();
    return true;
  };
  // Move the selected shape by (dx, dy) image pixels, kept inside the image.
  LabelCanvas.prototype.nudge = function (dx, dy) {
    if (this.selected < 0) return false;
    this._translate(this.shapes[this.selected], dx, dy);
    this.opts.onCommit();
    this.draw();
    return true;
  };
  LabelCanvas.prototype._translate = function (shape, dx, dy) {
    var w = this.image.width, h = this.image.height;
    if (shape.type === "box") {
      shape.x = Math.min(Math.max(shape.x + dx, 0), w - shape.w);
      shape.y = Math.min(Math.max(shape.y + dy, 0), h - shape.h);
    } else {
      var xs = shape.points.map(function (p) { return p[0]; }), ys = shape.points.map(function (p) { return p[1]; });
      dx = Math.min(Math.max(dx, -Math.min.apply(null, xs)), w - Math.max.apply(null, xs));
      dy = Math.min(Math.max(dy, -Math.min.apply(null, ys)), h - Math.max.apply(null, ys));
      shape.points.forEach(function (p) { p[0] += dx; p[1] += dy; });
    }
    shape.suggested = false;
  };
  // Finish the polygon being drawn (Enter); needs three points.
  LabelCanvas.prototype.closePolygon = function () {
    if (!this.draft || this.draft.type !== "polygon" || this.draft.points.length < 3) return false;
    this.shapes.push(this.draft);
    this.selected = this.shapes.length - 1;
    this.draft = null;
    this.opts.onCommit();
    this.draw();
    return true;
  };
  LabelCanvas.prototype.cancelDraft = function () {
    var had = !!this.draft;
    this.draft = null;
    this.selected = -1;
    this.draw();
    return had;
  };

  // -- hit testing -------------------------------------------------------------------------
  LabelCanvas.prototype._handleAt = function (sx, sy) {
    if (this.selected < 0) return null;
    var s = this.shapes[this.selected], v = this.view;
    if (s.type !== "box") return null;
    var corners = { nw: [s.x, s.y], ne: [s.x + s.w, s.y], sw: [s.x, s.y + s.h], se: [s.x + s.w, s.y + s.h] };
    for (var name in corners) {
      var cx = corners[name][0] * v.scale + v.ox, cy = corners[name][1] * v.scale + v.oy;
      if (Math.abs(sx - cx) <= HANDLE + 2 && Math.abs(sy - cy) <= HANDLE + 2) return name;
    }
    return null;
  };
  LabelCanvas.prototype._shapeAt = function (ix, iy) {
    var tol = 6 / this.view.scale;
    for (var i = this.shapes.length - 1; i >= 0; i--) {
      var s = this.shapes[i];
      if (s.type === "box" && ix >= s.x - tol && ix <= s.x + s.w + tol && iy >= s.y - tol && iy <= s.y + s.h + tol) return i;
      if (s.type === "polygon" && inside(s.points, ix, iy)) return i;
      if (s.type === "instance" && s.points.some(function (p) { return p[2] > 0 && Math.hypot(p[0] - ix, p[1] - iy) <= tol * 1.5; })) return i;
    }
    return -1;
  };
  function inside(points, x, y) { // ray casting
    var hit = false;
    for (var i = 0, j = points.length - 1; i < points.length; j = i++) {
      var xi = points[i][0], yi = points[i][1], xj = points[j][0], yj = points[j][1];
      if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) hit = !hit;
    }
    return hit;
  }

  // -- pointer -----------------------------------------------------------------------------
  LabelCanvas.prototype._bind = function () {
    var self = this, c = this.canvas;
    function pos(e) { var r = c.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; }
    c.addEventListener("mousedown", function (e) {
      if (!self.image) return;
      var s = pos(e), p = self.clamp(self.toImage(s[0], s[1]));
      if (e.button === 1 || e.button === 2 || self.spaceDown) {
        self.drag = { kind: "pan", sx: s[0], sy: s[1], ox: self.view.ox, oy: self.view.oy };
        c.parentElement.classList.add("panning");
        e.preventDefault();
        return;
      }
      var handle = self._handleAt(s[0], s[1]);
      if (handle) { self.drag = { kind: "resize", handle: handle }; return; }
      if (self.tool === "select" || self.opts.kind === "classification") {
        self.selected = self._shapeAt(p[0], p[1]);
        if (self.selected >= 0) self.drag = { kind: "move", last: p, moved: false };
        self.draw();
        if (self.opts.onSelect) self.opts.onSelect(self.selected);
        return;
      }
      if (self.tool === "box") {
        self.drag = { kind: "draw", start: p, shape: { type: "box", cls: self.cls, x: p[0], y: p[1], w: 0, h: 0 } };
      } else if (self.tool === "polygon") {
        if (!self.draft) self.draft = { type: "polygon", cls: self.cls, points: [] };
        var first = self.draft.points[0];
        if (first && self.draft.points.length >= 3 && Math.hypot(first[0] - p[0], first[1] - p[1]) * self.view.scale < 10) {
          self.closePolygon(); // clicking the first vertex closes the polygon
        } else {
          self.draft.points.push(p);
        }
      } else if (self.tool === "point") {
        var names = self.opts.keypoints;
        if (!self.draft) self.draft = { type: "instance", cls: self.cls, points: [] };
        self.draft.points.push([p[0], p[1], e.shiftKey ? 1 : 2]); // shift: occluded point
        if (self.draft.points.length === names.length) {
          self.shapes.push(self.draft);
          self.selected = self.shapes.length - 1;
          self.draft = null;
          self.opts.onCommit();
        }
      }
      self.draw();
    });
    window.addEventListener("mousemove", function (e) {
      if (!self.drag || !self.image) return;
      var s = pos(e), p = self.clamp(self.toImage(s[0], s[1])), d = self.drag;
      if (d.kind === "pan") {
        self.view.ox = d.ox + s[0] - d.sx;
        self.view.oy = d.oy + s[1] - d.sy;
      } else if (d.kind === "draw") {
        d.shape.x = Math.min(d.start[0], p[0]); d.shape.y = Math.min(d.start[1], p[1]);
        d.shape.w = Math.abs(p[0] - d.start[0]); d.shape.h = Math.abs(p[1] - d.start[1]);
      } else if (d.kind === "move") {
        self._translate(self.shapes[self.selected], p[0] - d.last[0], p[1] - d.last[1]);
        d.last = p; d.moved = true;
      } else if (d.kind === "resize") {
        var b = self.shapes[self.selected], x0 = b.x, y0 = b.y, x1 = b.x + b.w, y1 = b.y + b.h;
        if (d.handle.indexOf("w") >= 0) x0 = p[0]; else x1 = p[0];
        if (d.handle.indexOf("n") >= 0) y0 = p[1]; else y1 = p[1];
        b.x = Math.min(x0, x1); b.y = Math.min(y0, y1); b.w = Math.abs(x1 - x0); b.h = Math.abs(y1 - y0);
        b.suggested = false; d.moved = true;
      }
      self.draw();
    });
    window.addEventListener("mouseup", function () {
      var d = self.drag;
      self.drag = null;
      c.parentElement.classList.remove("panning");
      if (!d) return;
      if (d.kind === "draw" && d.shape.w * self.view.scale >= 3 && d.shape.h * self.view.scale >= 3) {
        self.shapes.push(d.shape);
        self.selected = self.shapes.length - 1;
        self.opts.onCommit();
      } else if ((d.kind === "move" || d.kind === "resize") && d.moved) {
        self.opts.onCommit();
      }
      self.draw();
    });
    c.addEventListener("dblclick", function () { self.closePolygon(); });
    c.addEventListener("contextmenu", function (e) { e.preventDefault(); });
    c.addEventListener("wheel", function (e) {
      if (!self.image) return;
      e.preventDefault();
      var s = pos(e);
      self.zoomBy(e.deltaY < 0 ? 1.15 : 1 / 1.15, s[0], s[1]);
      if (self.opts.onZoom) self.opts.onZoom(self.view.scale);
    }, { passive: false });
    window.addEventListener("resize", function () { self.resize(); });
  };

  // -- drawing -----------------------------------------------------------------------------
  LabelCanvas.prototype.draw = function () {
    var ctx = this.ctx, v = this.view, r = this.ratio || 1;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    if (!this.image) return;
    ctx.setTransform(r * v.scale, 0, 0, r * v.scale, r * v.ox, r * v.oy);
    ctx.imageSmoothingEnabled = v.scale < 4; // big zoom: show crisp pixels
    ctx.drawImage(this.image, 0, 0);
    ctx.setTransform(r, 0, 0, r, 0, 0);
    var self = this;
    this.shapes.forEach(function (s, i) { self._drawShape(s, i === self.selected); });
    if (this.draft) this._drawShape(this.draft, true, true);
    if (this.drag && this.drag.kind === "draw") this._drawShape(this.drag.shape, true);
    if (this.classLabel) this._chip(this.classLabel, 12, 12);
  };
  LabelCanvas.prototype._drawShape = function (s, selected, open) {
    var ctx = this.ctx, v = this.view, color = this.color(s.cls);
    function X(x) { return x * v.scale + v.ox; }
    function Y(y) { return y * v.scale + v.oy; }
    ctx.lineWidth = selected ? 2.5 : 1.8;
    ctx.strokeStyle = color;
    ctx.fillStyle = color + (selected ? "33" : "1f");
    ctx.setLineDash(s.suggested ? [6, 4] : []);
    if (s.type === "box") {
      ctx.fillRect(X(s.x), Y(s.y), s.w * v.scale, s.h * v.scale);
      ctx.strokeRect(X(s.x), Y(s.y), s.w * v.scale, s.h * v.scale);
      if (selected && !open) {
        ctx.setLineDash([]);
        ctx.fillStyle = "#ffffff";
        [[s.x, s.y], [s.x + s.w, s.y], [s.x, s.y + s.h], [s.x + s.w, s.y + s.h]].forEach(function (c) {
          ctx.fillRect(X(c[0]) - HANDLE / 2, Y(c[1]) - HANDLE / 2, HANDLE, HANDLE);
          ctx.strokeRect(X(c[0]) - HANDLE / 2, Y(c[1]) - HANDLE / 2, HANDLE, HANDLE);
        });
      }
      this._chip(s.cls, X(s.x), Y(s.y) - 18, color);
    } else if (s.type === "polygon" && s.points.length) {
      ctx.beginPath();
      s.points.forEach(function (p, i) { if (i) ctx.lineTo(X(p[0]), Y(p[1])); else ctx.moveTo(X(p[0]), Y(p[1])); });
      if (!open) { ctx.closePath(); ctx.fill(); }
      ctx.stroke();
      ctx.fillStyle = color;
      s.points.forEach(function (p) { ctx.fillRect(X(p[0]) - 2.5, Y(p[1]) - 2.5, 5, 5); });
      this._chip(s.cls, X(s.points[0][0]), Y(s.points[0][1]) - 18, color);
    } else if (s.type === "instance") {
      var names = this.opts.keypoints;
      ctx.setLineDash([]);
      s.points.forEach(function (p, i) {
        if (!p[2]) return;
        ctx.beginPath();
        ctx.arc(X(p[0]), Y(p[1]), selected ? 5 : 4, 0, Math.PI * 2);
        ctx.fillStyle = p[2] === 1 ? "#ffffff" : color;
        ctx.fill();
        ctx.stroke();
        ctx.fillStyle = color;
        ctx.font = "11px system-ui, sans-serif";
        ctx.fillText(names[i] || String(i), X(p[0]) + 7, Y(p[1]) - 6); // a canvas draws text, never markup
      });
    }
    ctx.setLineDash([]);
  };
  // A small filled label with the class name.
  LabelCanvas.prototype._chip = function (text, x, y, color) {
    var ctx = this.ctx;
    ctx.font = "600 12px system-ui, sans-serif";
    var w = ctx.measureText(text).width + 10;
    ctx.fillStyle = color || this.color(text);
    ctx.fillRect(x, Math.max(y, 0), w, 17);
    ctx.fillStyle = "#ffffff";
    ctx.fillText(text, x + 5, Math.max(y, 0) + 12.5);
  };

  window.LabelCanvas = LabelCanvas;
})();
