(function () {
  "use strict";
  var events = document.querySelectorAll("#transcript details.event");
  document.querySelectorAll("#transcript button[data-action]").forEach(function (button) {
    button.addEventListener("click", function () {
      var open = button.getAttribute("data-action") === "expand";
      document.querySelectorAll("#transcript details").forEach(function (d) { d.open = open; });
    });
  });
  var filter = document.getElementById("role-filter");
  if (filter) {
    filter.addEventListener("change", function () {
      var role = filter.value;
      events.forEach(function (d) {
        d.classList.toggle("hidden", role !== "" && d.getAttribute("data-role") !== role);
      });
    });
  }
  document.body.setAttribute("data-report-ready", String(events.length));
})();
