// modelplane console: the little JavaScript the pages need (no framework).
// mp.poll: JSON polling that pauses in hidden tabs; mp.post: fetch with the session's CSRF token;
// mp.timeChart / mp.lineChart: uPlot charts; sortable and filterable tables.
"use strict";
const mp = (() => {
  const csrf = () => (document.querySelector('meta[name="csrf"]') || {}).content || "";

  async function getJSON(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (response.status === 401) { window.location.reload(); throw new Error("signed out"); }
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || response.statusText);
    return body;
  }

  // Call fn(json) now and every `everyMs` while the page is visible; returns a stop function.
  function poll(url, everyMs, fn) {
    let timer = null, stopped = false;
    async function tick() {
      if (stopped) return;
      if (!document.hidden) {
        try { fn(await getJSON(typeof url === "function" ? url() : url)); }
        catch (err) { console.warn("poll", url, err); }
      }
      timer = setTimeout(tick, everyMs);
    }
    tick();
    return () => { stopped = true; clearTimeout(timer); };
  }

  async function post(url, data) {
    const response = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf(), Accept: "application/json",
                 "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(data || {}),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error || response.statusText);
    return body;
  }

  const palette = ["#2f6fec", "#e8590c", "#1a7f37", "#9c36b5", "#c53030", "#0b7285", "#5c940d", "#862e9c"];

  // series: [{label, values}], x: array of numbers (unix seconds when time=true).
  function chart(el, x, series, { time = false, height = 200, yLabel = "" } = {}) {
    const opts = {
      width: Math.max(el.clientWidth, 280), height,
      scales: { x: { time } },
      axes: [{}, { label: yLabel, size: 60 }],
      series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: s.color || palette[i % palette.length],
                                                 width: 2, spanGaps: true }))],
    };
    el.innerHTML = "";
    const plot = new uPlot(opts, [x, ...series.map(s => s.values)], el);
    new ResizeObserver(() => plot.setSize({ width: Math.max(el.clientWidth, 280), height })).observe(el);
    return { update(x2, series2) { plot.setData([x2, ...series2.map(s => s.values)]); }, plot };
  }

  function sortable(table) {
    table.querySelectorAll("th").forEach((th, index) => th.addEventListener("click", () => {
      const order = th.dataset.order === "asc" ? "desc" : "asc";
      table.querySelectorAll("th").forEach(other => delete other.dataset.order);
      th.dataset.order = order;
      const body = table.tBodies[0];
      const rows = Array.from(body.rows);
      const key = row => { const cell = row.cells[index]; const v = cell.dataset.sort ?? cell.textContent.trim();
                           const n = parseFloat(v); return isNaN(n) || /[a-z]/i.test(v) && isNaN(Number(v)) ? v : n; };
      rows.sort((a, b) => { const ka = key(a), kb = key(b);
        const c = typeof ka === "number" && typeof kb === "number" ? ka - kb : String(ka).localeCompare(String(kb));
        return order === "asc" ? c : -c; });
      rows.forEach(row => body.appendChild(row));
    }));
  }

  function filterable(input) {
    const table = document.getElementById(input.dataset.filterTable);
    input.addEventListener("input", () => {
      const words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      Array.from(table.tBodies[0].rows).forEach(row => {
        const text = row.textContent.toLowerCase();
        row.hidden = !words.every(w => text.includes(w));
      });
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("table.sortable").forEach(sortable);
    document.querySelectorAll("input[data-filter-table]").forEach(filterable);
  });

  return { getJSON, poll, post, chart, palette };
})();
