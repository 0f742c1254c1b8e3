// Live updates for the dashboard's open page, over the server-sent event stream: new alerts
// at the top of every page, a customer's segment on their page, segment sizes on the overview.
// Nothing else on the pages needs JavaScript.
(function () {
  "use strict";
  if (!document.body.dataset.live || !window.EventSource) return;
  var alerts = document.getElementById("live-alerts");
  var customer = document.body.dataset.customer;

  function count(cell, delta) {
    if (!cell) return;
    var n = parseInt(cell.textContent.replace(/[^0-9-]/g, ""), 10) || 0;
    cell.textContent = Math.max(0, n + delta).toLocaleString("en-US");
  }

  function sizeCell(segmentId) {
    return document.querySelector('[data-live-size="' + segmentId + '"]');
  }

  var stream = new EventSource("/ui/stream");
  stream.addEventListener("alert", function (e) {
    var a = JSON.parse(e.data);
    var li = document.createElement("li");
    li.className = "live-alert";
    li.textContent = a.message;
    alerts.insertBefore(li, alerts.firstChild);
    while (alerts.children.length > 5) alerts.removeChild(alerts.lastChild);
    var table = document.querySelector("#alerts tbody");
    if (!table) return;
    var empty = table.querySelector("td[colspan]");
    if (empty) table.removeChild(empty.parentNode);
    var row = document.createElement("tr");
    var segment = a.segment_id === null || a.segment_id === undefined ? "all" : a.segment_id;
    [String(a.created_at).slice(0, 16).replace("T", " "), segment, a.message, "—"].forEach(
      function (text, i) {
        var cell = document.createElement("td");
        if (i === 3) cell.className = "n";
        cell.textContent = text;
        row.appendChild(cell);
      }
    );
    table.insertBefore(row, table.firstChild);
  });
  stream.addEventListener("segment.left", function (e) {
    count(sizeCell(JSON.parse(e.data).segment_id), -1);
  });
  stream.addEventListener("segment.entered", function (e) {
    var d = JSON.parse(e.data);
    count(sizeCell(d.segment_id), 1);
    if (!customer || d.handle !== customer) return;
    var seg = document.getElementById("customer-segment");
    seg.textContent = d.segment;
    seg.href = "/segments/" + d.segment_id;
    seg.dataset.segmentId = d.segment_id;
    var micro = document.getElementById("customer-micro");
    micro.textContent = "";
    if (d.micro_segment_id) {
      var link = document.createElement("a");
      link.href = "/micro/" + encodeURIComponent(d.micro_segment_id);
      link.textContent = d.micro_segment || d.micro_segment_id;
      micro.appendChild(link);
    } else {
      micro.textContent = "—";
    }
    if (d.confidence !== null && d.confidence !== undefined) {
      document.getElementById("customer-confidence").textContent =
        Math.round(d.confidence * 100) + "%";
    }
    var note = document.getElementById("segment-change");
    note.textContent = "Moved just now to " + d.segment + ".";
    note.hidden = false;
  });
})();
