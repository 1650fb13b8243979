(function () {
  "use strict";
  var box = document.getElementById("inventory-filter-box");
  var input = document.getElementById("inventory-filter");
  var table = document.getElementById("inventory-table");
  var count = document.getElementById("inventory-count");
  if (!box || !input || !table || !table.tBodies.length) { return; }
  var rows = Array.prototype.slice.call(table.tBodies[0].rows);
  var texts = rows.map(function (row) { return row.textContent.toLowerCase(); });
  function apply() {
    var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    var shown = 0;
    for (var i = 0; i < rows.length; i++) {
      var hit = words.every(function (w) { return texts[i].indexOf(w) !== -1; });
      rows[i].hidden = !hit;
      if (hit) { shown++; }
    }
    count.textContent = shown + " of " + rows.length + " repositories shown";
  }
  input.addEventListener("input", apply);
  box.hidden = false;
  apply();
})();
