// Text items: the text with its labeled spans highlighted, and span selection.
//
// The text is rebuilt from plain text nodes and <mark> elements whose content is set with
// textContent, so whatever the text holds (markup, scripts) is shown as text. Offsets are
// character positions in the original string: a selection is measured by walking the text
// nodes before its ends.
(function () {
  "use strict";

  function TextView(container, options) {
    this.el = container;
    this.opts = options;
    this.text = "";
  }

  // Render `text` with `spans` ([{cls, start, end}]) and, for classification, the chosen class.
  TextView.prototype.render = function (text, spans, choice) {
    this.text = text;
    var el = this.el, opts = this.opts, pos = 0;
    el.textContent = "";
    spans.slice().sort(function (a, b) { return a.start - b.start; }).forEach(function (s, index) {
      if (s.start < pos) return;
      if (s.start > pos) el.appendChild(document.createTextNode(text.slice(pos, s.start)));
      var mark = document.createElement("mark");
      mark.textContent = text.slice(s.start, s.end);
      mark.setAttribute("data-class", s.cls);
      mark.setAttribute("data-index", String(index));
      mark.style.setProperty("--c", opts.colorOf(s.cls));
      mark.title = s.cls + " (click to remove)";
      el.appendChild(mark);
      pos = s.end;
    });
    if (pos < text.length) el.appendChild(document.createTextNode(text.slice(pos)));
    if (choice) {
      el.appendChild(document.createElement("br"));
      var chip = document.createElement("span");
      chip.className = "lb-choice";
      chip.textContent = choice;
      chip.style.background = opts.colorOf(choice);
      el.appendChild(chip);
    }
  };

  // Character offset of (node, offset) within the container's text.
  TextView.prototype._offset = function (node, offset) {
    var walker = document.createTreeWalker(this.el, NodeFilter.SHOW_TEXT);
    var total = 0, current;
    while ((current = walker.nextNode())) {
      if (current === node) return total + offset;
      if (current.parentElement && current.parentElement.classList.contains("lb-choice")) continue;
      total += current.textContent.length;
    }
    // An element boundary: count the text of the first `offset` children.
    total = 0;
    for (var i = 0; i < offset && i < node.childNodes.length; i++) total += node.childNodes[i].textContent.length;
    return total;
  };

  // The current selection as [start, end) in the text, trimmed of spaces; null if none.
  TextView.prototype.selection = function () {
    var sel = window.getSelection();
    if (!sel || sel.rangeCount === 0 || sel.isCollapsed) return null;
    var range = sel.getRangeAt(0);
    if (!this.el.contains(range.startContainer) || !this.el.contains(range.endContainer)) return null;
    var start = this._offset(range.startContainer, range.startOffset);
    var end = this._offset(range.endContainer, range.endOffset);
    if (start > end) { var t = start; start = end; end = t; }
    end = Math.min(end, this.text.length);
    while (start < end && /\s/.test(this.text[start])) start++;
    while (end > start && /\s/.test(this.text[end - 1])) end--;
    sel.removeAllRanges();
    return end > start ? [start, end] : null;
  };

  window.LabelTextView = TextView;
})();
