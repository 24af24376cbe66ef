// The schedule month grid: select cells, apply a shift or a code, clear, save in one batch.
"use strict";
(function () {
  const grid = document.getElementById("schedule-grid");
  if (!grid) return;
  const changed = new Map();
  const shift = /^(\d{1,2})(?::(\d{2}))?-(\d{1,2})(?::(\d{2}))?$/;

  function minutes(text) {
    const m = shift.exec(text.trim());
    if (!m) return 0;
    const start = Number(m[1]) * 60 + Number(m[2] || 0);
    const end = Number(m[3]) * 60 + Number(m[4] || 0);
    return end > start ? end - start : end + 1440 - start;
  }
  function hhmm(total) {
    return Math.floor(total / 60) + ":" + String(total % 60).padStart(2, "0");
  }
  function retotal(row) {
    let sum = 0, days = 0;
    row.querySelectorAll(".grid-cell").forEach(function (cell) {
      const m = minutes(cell.textContent);
      sum += m;
      if (m) days += 1;
    });
    row.querySelector(".grid-total").textContent = hhmm(sum);
    row.querySelector(".grid-days").textContent = String(days);
  }
  function setSelected(value) {
    const rows = new Set();
    grid.querySelectorAll(".grid-cell.selected").forEach(function (cell) {
      const row = cell.parentElement;
      cell.textContent = value;
      cell.classList.remove("selected");
      cell.classList.add("changed");
      cell.style.background = "#fff3cd";
      changed.set(row.dataset.e + "/" + cell.dataset.d, {
        employee_id: Number(row.dataset.e), day: cell.dataset.d, code: value,
      });
      rows.add(row);
    });
    rows.forEach(retotal);
  }
  grid.addEventListener("click", function (event) {
    const cell = event.target.closest(".grid-cell");
    if (!cell) return;
    cell.classList.toggle("selected");
    cell.style.outline = cell.classList.contains("selected") ? "2px solid #206bc4" : "";
  });
  document.getElementById("grid-apply").addEventListener("click", function () {
    const value = document.getElementById("grid-shift").value.trim() || document.getElementById("grid-code").value;
    if (value) setSelected(value);
  });
  document.getElementById("grid-clear").addEventListener("click", function () { setSelected(""); });
  document.getElementById("grid-form").addEventListener("submit", function () {
    document.getElementById("grid-cells").value = JSON.stringify(Array.from(changed.values()));
  });
})();
