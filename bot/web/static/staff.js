// Staff pages: live updates by short polling (no full reload), canned replies.
// Everything also works without JavaScript; this only saves reloading.
//
// A live update never moves or drops keyboard focus: the new fragment is merged into the
// page (rows matched by their case code, everything else by position), so the element
// someone is on stays the same element. New requests in the queue are announced through
// the page's polite live region (#live-status), never by moving focus.
"use strict";

function keyOf(node) {
  if (node.nodeType !== Node.ELEMENT_NODE) return null;
  return node.getAttribute("data-code") || node.id || null;
}

function patch(old, fresh) {
  if (old.nodeType !== Node.ELEMENT_NODE) {
    if (old.nodeValue !== fresh.nodeValue) old.nodeValue = fresh.nodeValue;
    return;
  }
  for (const attr of [...old.attributes]) {
    if (!fresh.hasAttribute(attr.name)) old.removeAttribute(attr.name);
  }
  for (const attr of [...fresh.attributes]) {
    if (old.getAttribute(attr.name) !== attr.value) old.setAttribute(attr.name, attr.value);
  }
  merge(old, fresh);
}

// Make oldParent's children look like freshParent's, keeping every node that still fits:
// a keyed node (a row's case code, an id) wherever it is, others by kind and order.
function merge(oldParent, freshParent) {
  const keyed = new Map();
  for (const child of oldParent.childNodes) {
    const key = keyOf(child);
    if (key) keyed.set(key, child);
  }
  let cursor = oldParent.firstChild;
  for (const node of [...freshParent.childNodes]) {
    const key = keyOf(node);
    let match = null;
    if (key) {
      const found = keyed.get(key);
      if (found && found.nodeName === node.nodeName) {
        match = found;
        keyed.delete(key);
      }
    } else {
      // The next old node of the same kind without a key; plain nodes skipped on the way go.
      let probe = cursor;
      while (probe && (keyOf(probe) || probe.nodeName !== node.nodeName)) probe = probe.nextSibling;
      if (probe) {
        while (cursor !== probe) {
          const next = cursor.nextSibling;
          if (!keyOf(cursor)) oldParent.removeChild(cursor);
          cursor = next;
        }
        match = probe;
      }
    }
    if (match === null) {
      oldParent.insertBefore(node, cursor);
      continue;
    }
    if (match === cursor) cursor = cursor.nextSibling;
    else oldParent.insertBefore(match, cursor); // a keyed node that moved (focus is restored)
    patch(match, node);
  }
  while (cursor) {
    const next = cursor.nextSibling;
    oldParent.removeChild(cursor);
    cursor = next;
  }
  // Keyed nodes no longer there (a request claimed or closed elsewhere) go too.
  for (const left of keyed.values()) if (left.parentNode === oldParent) oldParent.removeChild(left);
}

// Replace the section's content with the fragment, focus kept where it was.
function update(section, html) {
  const focused = document.activeElement;
  const had = focused && focused !== section && section.contains(focused);
  const fresh = document.createElement("template");
  fresh.innerHTML = html;
  merge(section, fresh.content);
  if (!had || document.activeElement === focused) return;
  if (focused.isConnected) {
    focused.focus({ preventScroll: true });
  } else {
    // Its row left (claimed or closed elsewhere): the section's heading, never <body>.
    // (The queue's heading carries tabindex="-1" in the template, so a merge keeps it.)
    const heading = section.querySelector("[tabindex='-1']") || section;
    if (heading === section) section.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }
}

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
        const before = onUpdate ? onUpdate.before() : null;
        update(section, html);
        if (onUpdate) onUpdate.after(before);
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

function queueCodes(queue) {
  return new Set([...queue.querySelectorAll("[data-testid=queue-row]")].map((r) => r.dataset.code));
}

// What the live region says after an update: how many requests are new, then the counts.
function announceQueue(queue, before) {
  const status = document.getElementById("live-status");
  if (!status) return;
  const added = [...queueCodes(queue)].filter((code) => !before.has(code)).length;
  const counts = queue.querySelector("#queue-heading");
  let text = status.dataset.updated || "";
  if (added === 1) text = status.dataset.newOne || text;
  else if (added > 1) text = (status.dataset.newMany || text).replace("%(n)s", String(added));
  if (added && counts) text += " " + counts.textContent.replace(/\s+/g, " ").trim();
  status.textContent = text;
}

document.addEventListener("DOMContentLoaded", () => {
  const queue = document.getElementById("queue");
  if (queue) {
    pollLive(queue, "X-Queue-Version", {
      before: () => queueCodes(queue),
      after: (before) => announceQueue(queue, before),
    });
  }
  const messages = document.getElementById("messages");
  if (messages) pollLive(messages, "X-Messages-Version");
  // A canned reply fills the reply box; focus stays on the select (WCAG 3.2.2: choosing
  // with the arrow keys must not move someone elsewhere).
  for (const select of document.querySelectorAll("select[data-fills]")) {
    select.addEventListener("change", () => {
      const target = document.getElementById(select.dataset.fills);
      if (target && select.value) target.value = select.value;
    });
  }
});
