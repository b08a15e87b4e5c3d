// Staff pages: live updates by short polling (no full reload), canned replies.
// Everything also works without JavaScript; this only saves reloading.
"use strict";

function pollLive(section, versionHeader, onUpdate) {
  const url = section.dataset.liveUrl;
  const every = Number(section.dataset.pollMs) || 3000;
  let stopped = false;
  async function tick() {
    if (stopped) return;
    try {
      const sep = url.includes("?") ? "&" : "?";
      const response = await fetch(url + sep + "v=" + encodeURIComponent(section.dataset.version), {
        credentials: "same-origin",
        headers: { Accept: "text/html" },
        redirect: "manual",
      });
      if (response.status === 200) {
        const html = await response.text();
        section.dataset.version = response.headers.get(versionHeader) || "";
        section.innerHTML = html;
        if (onUpdate) onUpdate();
      } else if (response.status !== 204) {
        stopped = true;
        const status = document.getElementById("live-status");
        if (status) status.textContent = status.dataset.stopped || "";
        return;
      }
    } catch (err) {
      // Network hiccup: try again on the next tick.
    }
    setTimeout(tick, every);
  }
  setTimeout(tick, every);
}

document.addEventListener("DOMContentLoaded", () => {
  const queue = document.getElementById("queue");
  if (queue) {
    pollLive(queue, "X-Queue-Version", () => {
      const status = document.getElementById("live-status");
      if (status) status.textContent = status.dataset.updated || "";
    });
  }
  const messages = document.getElementById("messages");
  if (messages) pollLive(messages, "X-Messages-Version");
  for (const select of document.querySelectorAll("select[data-fills]")) {
    select.addEventListener("change", () => {
      const target = document.getElementById(select.dataset.fills);
      if (target && select.value) {
        target.value = select.value;
        target.focus();
      }
    });
  }
});
