// ServOS web UI: small conveniences on top of pages that work without
// JavaScript. Loaded from /static (the CSP allows no inline script).
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  // Ask before destructive forms: <form data-confirm="Delete web-1?">.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) {
        event.preventDefault();
      }
    });
  });

  // Copy buttons: <button data-copy="element-id">.
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (!source || !navigator.clipboard) {
        return;
      }
      navigator.clipboard.writeText(source.value || source.textContent).then(function () {
        var label = button.textContent;
        button.textContent = "Copied";
        window.setTimeout(function () { button.textContent = label; }, 1500);
      });
    });
  });

  // The environment editor: a variable delivered as a file gets a
  // multi-line field as soon as its box is ticked.
  document.querySelectorAll("input[data-env-file]").forEach(function (box) {
    var sync = function () { fileField(box.closest("tr"), box.checked); };
    box.addEventListener("change", sync);
    sync();
  });

  // A running deployment's page: new step log lines from the event stream,
  // its servers' steps, and its final state when it ends, without a reload.
  var log = document.getElementById("deployment-log");
  if (log && log.hasAttribute("data-events") && window.EventSource) {
    followDeployment(log);
  }
  // A running agent install's page: its step log and end, without a reload.
  var install = document.getElementById("install-log");
  if (install && install.hasAttribute("data-events") && window.EventSource) {
    followInstall(install);
  }
});

// Makes the value field of an environment row a textarea (a file's
// content, its lines kept) or a password input (one line), keeping its
// name and label, and what was typed unless a password input would drop
// its line breaks.
function fileField(row, asFile) {
  var field = row && row.querySelector("[data-env-value]");
  if (!field || (field.tagName === "TEXTAREA") === asFile) {
    return;
  }
  var next = document.createElement(asFile ? "textarea" : "input");
  if (asFile) {
    next.rows = 3;
    next.className = "mono env-file";
    next.spellcheck = false;
    next.setAttribute("autocomplete", "off");
  } else {
    next.type = "password";
    next.setAttribute("autocomplete", "new-password");
  }
  ["name", "placeholder", "aria-label"].forEach(function (attr) {
    if (field.hasAttribute(attr)) {
      next.setAttribute(attr, field.getAttribute(attr));
    }
  });
  next.setAttribute("data-env-value", "");
  next.value = /[\r\n]/.test(field.value) ? "" : field.value;
  field.replaceWith(next);
}

function followInstall(log) {
  var status = document.getElementById("log-status");
  var source = new EventSource(log.getAttribute("data-events"));
  source.addEventListener("open", function () {
    setText(status, "live");
  });
  source.addEventListener("log", function (event) {
    appendLine(log, JSON.parse(event.data), {});
  });
  source.addEventListener("end", function (event) {
    source.close();
    var end = JSON.parse(event.data);
    setBadge(document.getElementById("install-state"), end.state);
    setText(document.getElementById("install-reason"), end.reason);
    setText(status, "complete");
  });
  source.addEventListener("error", function () {
    if (source.readyState === EventSource.CLOSED) {
      setText(status, "disconnected: reload the page for new lines");
    }
  });
}

// The colour of a deployment's state or a server's step, as the pages
// render it (ui/views.rs, deployment_status).
function tone(state) {
  switch (state) {
    case "succeeded": return "ok";
    case "failed": return "bad";
    case "pending": case "cancelled": return "neutral";
    default: return "pending";
  }
}

function setBadge(holder, state) {
  var badge = holder && holder.querySelector(".badge");
  if (badge) {
    badge.className = "badge badge-" + tone(state);
    badge.textContent = state;
  }
}

// How long something took, as the pages show it (ui/views.rs, duration):
// 42s, 3m 05s, 1h 02m.
function duration(from, to) {
  var secs = Math.max(0, Math.floor((Date.parse(to) - Date.parse(from)) / 1000));
  var pad = function (n) { return (n < 10 ? "0" : "") + n; };
  if (secs < 60) {
    return secs + "s";
  }
  if (secs < 3600) {
    return Math.floor(secs / 60) + "m " + pad(secs % 60) + "s";
  }
  return Math.floor(secs / 3600) + "h " + pad(Math.floor(secs % 3600 / 60)) + "m";
}

function setText(element, text) {
  if (element) {
    element.textContent = text || "";
  }
}

function appendLine(log, line, servers) {
  var follow = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
  var row = document.createElement("div");
  row.className = "log-line";
  var time = document.createElement("span");
  time.className = "log-time";
  time.textContent = String(line.at).substring(11, 19);
  row.appendChild(time);
  row.appendChild(document.createTextNode(" "));
  if (line.server_id) {
    var server = document.createElement("span");
    server.className = "log-server";
    server.textContent = servers[line.server_id] || line.server_id;
    row.appendChild(server);
    row.appendChild(document.createTextNode(" "));
  }
  var text = document.createElement("span");
  text.className = "log-text";
  text.textContent = line.text;
  row.appendChild(text);
  log.appendChild(row);
  if (follow) {
    log.scrollTop = log.scrollHeight;
  }
}

// Where a server's share went, as the page renders it server-side:
// "2.40 s (Docker 1.90 s, ServOS 0.40 s)"; "" until it ended.
function timeSpent(timings) {
  if (!timings) {
    return "";
  }
  var s = function (ms) { return (ms / 1000).toFixed(2) + " s"; };
  return s(timings.total_ms) + " (Docker " + s(timings.docker_ms) +
    ", ServOS " + s(timings.servos_ms) + ")";
}

// Shows the deployment as the API returns it: each server's step,
// container and reason, the progress, and the digest.
function showDeployment(deployment) {
  var done = 0;
  (deployment.targets || []).forEach(function (target) {
    if (["succeeded", "failed", "cancelled"].indexOf(target.state) >= 0) {
      done += 1;
    }
    document.querySelectorAll("tr[data-target]").forEach(function (row) {
      if (row.getAttribute("data-target") !== target.id) {
        return;
      }
      setBadge(row.querySelector(".target-state"), target.state);
      setText(row.querySelector(".target-container"), target.container);
      setText(row.querySelector(".target-reason"), target.reason);
      setText(row.querySelector(".target-time"), timeSpent(target.timings));
    });
  });
  var progress = document.getElementById("deployment-progress");
  if (progress) {
    progress.value = done;
    progress.textContent = done + " of " + progress.max;
  }
  setText(document.getElementById("progress-done"), String(done));
  if (deployment.started_at && deployment.finished_at) {
    setText(document.getElementById("deployment-duration"),
      duration(deployment.started_at, deployment.finished_at));
  }
  if (deployment.image_digest) {
    setText(document.getElementById("deployment-digest"), deployment.image_digest);
  }
}

function followDeployment(log) {
  var url = log.getAttribute("data-deployment");
  var servers = {};
  document.querySelectorAll("tr[data-server-id]").forEach(function (row) {
    servers[row.getAttribute("data-server-id")] = row.getAttribute("data-server-name");
  });
  var status = document.getElementById("log-status");
  var scheduled = null;
  function refresh() {
    return window.fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (deployment) {
        if (deployment) {
          showDeployment(deployment);
        }
      })
      .catch(function () { /* the next event tries again */ });
  }
  function refreshSoon() {
    if (scheduled === null) {
      scheduled = window.setTimeout(function () {
        scheduled = null;
        refresh();
      }, 500);
    }
  }

  var source = new EventSource(log.getAttribute("data-events"));
  source.addEventListener("open", function () {
    setText(status, "live");
  });
  source.addEventListener("log", function (event) {
    appendLine(log, JSON.parse(event.data), servers);
    refreshSoon();
  });
  source.addEventListener("end", function (event) {
    source.close();
    var end = JSON.parse(event.data);
    setBadge(document.getElementById("deployment-state"), end.state);
    setText(document.getElementById("deployment-reason"),
      end.reason || (end.state === "succeeded" ? "every server runs it" : end.state));
    setText(status, "complete");
    var cancel = document.getElementById("cancel-form");
    if (cancel) {
      cancel.hidden = true;
    }
    var rollback = document.getElementById("rollback-form");
    if (rollback && end.state === "succeeded") {
      rollback.hidden = false;
    }
    refresh();
  });
  source.addEventListener("error", function () {
    if (source.readyState === EventSource.CLOSED) {
      setText(status, "disconnected: reload the page for new lines");
    } else {
      setText(status, "reconnecting…");
    }
  });
}
