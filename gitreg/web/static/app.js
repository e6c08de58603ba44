// gitreg's pages: draw the Vega-Lite charts a page holds, and filter a static report's audit log in place.
(function () {
  "use strict";
  function drawCharts() {
    var boxes = document.querySelectorAll(".chart[data-spec]");
    if (!boxes.length || typeof vega === "undefined" || typeof vegaLite === "undefined") return;
    boxes.forEach(function (box) {
      var spec = JSON.parse(document.getElementById(box.getAttribute("data-spec")).textContent);
      var compiled = vegaLite.compile(spec).spec;
      var view = new vega.View(vega.parse(compiled), { renderer: "svg", container: box, hover: true });
      view.runAsync().then(function () { box.setAttribute("data-drawn", "1"); });
    });
  }
  function filterStaticLog() {
    var form = document.getElementById("log-filters");
    if (!form || !form.hasAttribute("data-static")) return;
    function apply(event) {
      if (event) event.preventDefault();
      var want = {};
      ["model", "stage", "action", "author", "since", "until"].forEach(function (key) {
        want[key] = (form.elements[key].value || "").trim();
      });
      var shown = 0;
      document.querySelectorAll("#log tbody tr").forEach(function (row) {
        var d = row.dataset, day = d.day;
        var ok = (!want.model || d.model === want.model) && (!want.stage || d.stage === want.stage)
          && (!want.action || d.action === want.action)
          && (!want.author || d.author.toLowerCase().indexOf(want.author.toLowerCase()) >= 0)
          && (!want.since || day >= want.since) && (!want.until || day <= want.until);
        row.hidden = !ok;
        if (ok) shown += 1;
      });
      document.getElementById("log-count").textContent = shown + " events";
    }
    form.addEventListener("submit", apply);
    form.addEventListener("change", apply);
  }
  drawCharts();
  filterStaticLog();
})();
