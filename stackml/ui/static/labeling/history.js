// Undo/redo for the annotator workspace: a stack of snapshots of the labels of one item.
// Each snapshot is a deep copy (labels are small JSON), so undo is exact whatever changed.
(function () {
  "use strict";

  function clone(value) { return JSON.parse(JSON.stringify(value)); }

  function History(initial) {
    this.reset(initial);
  }
  // Start over for a new item; `initial` is the state before any edit.
  History.prototype.reset = function (initial) {
    this.past = [clone(initial)];
    this.future = [];
  };
  // Record the state after an edit (an edit that changes nothing is not recorded).
  History.prototype.push = function (state) {
    var last = JSON.stringify(this.past[this.past.length - 1]);
    if (JSON.stringify(state) === last) return;
    this.past.push(clone(state));
    this.future = [];
  };
  History.prototype.current = function () { return clone(this.past[this.past.length - 1]); };
  History.prototype.undo = function () {
    if (this.past.length > 1) this.future.push(this.past.pop());
    return this.current();
  };
  History.prototype.redo = function () {
    if (this.future.length) this.past.push(this.future.pop());
    return this.current();
  };
  History.prototype.canUndo = function () { return this.past.length > 1; };
  History.prototype.canRedo = function () { return this.future.length > 0; };

  window.LabelHistory = History;
})();
