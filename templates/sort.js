// Sort a table by the clicked column, using each cell's data-sort value; empty values stay last.
(function () {
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var headings = Array.prototype.slice.call(table.tHead.rows[0].cells);
    headings.forEach(function (heading, column) {
      if (heading.classList.contains("nosort")) return;
      heading.addEventListener("click", function () {
        var ascending = heading.getAttribute("aria-sort") !== "ascending";
        var numeric = heading.dataset.type === "number";
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (left, right) {
          var a = left.cells[column].dataset.sort;
          var b = right.cells[column].dataset.sort;
          if (a === "" || b === "") return a === b ? 0 : a === "" ? 1 : -1;
          var order = numeric ? Number(a) - Number(b) : a.localeCompare(b);
          return ascending ? order : -order;
        });
        headings.forEach(function (other) { other.removeAttribute("aria-sort"); });
        heading.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
})();
