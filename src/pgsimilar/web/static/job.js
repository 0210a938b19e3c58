// The job page: poll the job's status and redraw the progress bar, the counts and the failed items
// until the job has finished. Text goes in through textContent only (item names come from uploads).
(function () {
  "use strict";
  var card = document.getElementById("job");
  if (!card || card.dataset.finished === "true") {
    return;
  }
  var url = card.dataset.statusUrl;
  var bar = document.getElementById("job-progress");
  var percent = document.getElementById("job-percent");
  var status = document.getElementById("job-status");
  var counts = document.getElementById("job-counts");
  var errorsCard = document.getElementById("job-errors-card");
  var errorsBody = document.getElementById("job-errors");
  var number = new Intl.NumberFormat("en");

  function cell(tag, label, text) {
    var element = document.createElement(tag);
    element.setAttribute("data-label", label);
    element.textContent = text;
    if (tag === "th") {
      element.setAttribute("scope", "row");
    }
    return element;
  }

  function redraw(job) {
    bar.value = job.percent;
    bar.textContent = job.percent + "%";
    percent.textContent = job.percent + "%";
    status.textContent = job.status.replace("_", " ");
    status.className = "badge status-" + job.status;
    var text = number.format(job.done) + " stored, " + number.format(job.failed) + " failed";
    if (job.cancelled) {
      text += ", " + number.format(job.cancelled) + " cancelled";
    }
    counts.textContent = text + " of " + number.format(job.total);
    errorsBody.replaceChildren();
    job.errors.forEach(function (error) {
      var row = document.createElement("tr");
      row.append(cell("th", "Item", error.name), cell("td", "From", error.source || ""), cell("td", "Reason", error.reason));
      errorsBody.append(row);
    });
    errorsCard.hidden = job.errors.length === 0;
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("status " + response.status);
        }
        return response.json();
      })
      .then(function (job) {
        redraw(job);
        if (!job.finished) {
          window.setTimeout(poll, 500);
        } else {
          card.dataset.finished = "true";
        }
      })
      .catch(function () {
        window.setTimeout(poll, 2000); // the server restarted or the network blinked: try again
      });
  }

  window.setTimeout(poll, 300);
})();
