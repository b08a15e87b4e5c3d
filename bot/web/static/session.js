// Staff pages: a warning before the session ends for want of use, with "Stay signed in",
// and replies and notes being typed kept in this browser tab when the session ends anyway.
//
// The server says how long the session has left: the page's data-seconds-left, then
// GET /staff/session/left before the warning (another tab may have been used since), and
// POST /staff/session/stay for "Stay signed in". Asking is a live poll: it keeps no
// session alive; only the button (or any real click) does.
//
// Typed text is kept in sessionStorage (this tab only, gone when the tab closes; never
// localStorage: it is sensitive text, and staff computers are shared), keyed by account,
// case code and field; cleared when it was sent and at sign-out. It is put back into
// the same field on the case page after signing in again, with a note, and never sent
// without a new click. Without JavaScript the pages work as before.
"use strict";

(() => {
  const WARN_MS = 120 * 1000; // the warning comes two minutes before the end
  const RECHECK_MS = 30 * 1000; // while it shows: ask again (another tab may have stayed)
  const PREFIX = "staff-draft:";

  function storage() {
    try {
      return window.sessionStorage;
    } catch (err) {
      return null; // storage switched off: nothing is kept
    }
  }

  function clearDrafts() {
    const store = storage();
    if (!store) return;
    for (let i = store.length - 1; i >= 0; i--) {
      const key = store.key(i);
      if (key && key.startsWith(PREFIX)) store.removeItem(key);
    }
  }

  function keepDrafts(staff, restoredText) {
    const store = storage();
    if (!store) return;
    for (const form of document.querySelectorAll("form[data-draft]")) {
      const field = form.querySelector("textarea[name='text']");
      if (!field || !form.dataset.draftCase) continue;
      const key = `${PREFIX}${staff}:${form.dataset.draftCase}:${form.dataset.draft}`;
      if (form.hasAttribute("data-draft-sent")) {
        store.removeItem(key); // the page says this field's text was just sent
      } else {
        const kept = store.getItem(key);
        if (kept && !field.value.trim()) {
          field.value = kept;
          const note = document.createElement("p");
          note.id = `${field.id}-restored`;
          note.className = "flash draft-restored";
          note.setAttribute("role", "status");
          note.dataset.testid = "draft-restored";
          note.textContent = restoredText;
          field.after(note);
          const described = field.getAttribute("aria-describedby");
          field.setAttribute("aria-describedby", described ? `${described} ${note.id}` : note.id);
        }
      }
      const save = () => {
        try {
          if (field.value.trim()) store.setItem(key, field.value);
          else store.removeItem(key);
        } catch (err) {
          // Storage full or refused: the text is still in the field.
        }
      };
      field.addEventListener("input", save);
      field.addEventListener("change", save);
      form.addEventListener("submit", save);
    }
    for (const form of document.querySelectorAll("form[action='/staff/logout']")) {
      form.addEventListener("submit", clearDrafts);
    }
  }

  function watchSession(dialog) {
    let timer = 0;
    let shown = null; // the state on screen, or null
    let dismissed = false; // closed by the person: not shown again until the time changes
    let ended = false;
    let returnFocus = null;

    function schedule(ms) {
      clearTimeout(timer);
      if (!ended) timer = setTimeout(check, Math.max(0, ms));
    }

    function show(state) {
      for (const part of dialog.querySelectorAll("[data-state]")) {
        part.hidden = part.dataset.state !== state;
      }
      dialog.setAttribute("aria-labelledby", `session-${state}-title`);
      dialog.setAttribute("aria-describedby", `session-${state}-text`);
      const problem = dialog.querySelector("[data-problem]");
      if (problem) problem.hidden = true;
      if (shown === state && dialog.open) return;
      shown = state;
      if (!dialog.open) {
        returnFocus = document.activeElement;
        dialog.showModal();
      }
      const first = dialog.querySelector(`[data-state="${state}"] button, [data-state="${state}"] a`);
      if (first) first.focus();
    }

    function hide() {
      if (dialog.open) dialog.close();
    }

    dialog.addEventListener("close", () => {
      shown = null;
      const back = returnFocus;
      returnFocus = null;
      if (back && back !== document.body && document.contains(back)) back.focus();
    });
    dialog.addEventListener("cancel", () => {
      dismissed = true; // Escape
    });

    function follow(answer) {
      if (!answer.signed_in) {
        ended = true;
        clearTimeout(timer);
        dismissed = false;
        show("ended");
        return;
      }
      dialog.dataset.secondsLeft = String(answer.seconds_left); // what the server last said
      const left = Math.max(0, Number(answer.seconds_left) * 1000);
      if (left > WARN_MS) {
        dismissed = false;
        hide();
        schedule(left - WARN_MS);
      } else {
        if (!dismissed) show(answer.absolute ? "absolute" : "warn");
        schedule(Math.min(left + 1000, RECHECK_MS));
      }
    }

    async function ask(method) {
      const init = {
        method,
        credentials: "same-origin",
        headers: { Accept: "application/json" },
        redirect: "manual",
        cache: "no-store",
      };
      if (method === "POST") init.body = new URLSearchParams({ csrf: dialog.dataset.csrf });
      const url = method === "POST" ? "/staff/session/stay" : "/staff/session/left";
      const response = await fetch(url, init);
      if (!response.ok) throw new Error(`session ${response.status}`);
      return response.json();
    }

    async function check() {
      try {
        follow(await ask("GET"));
      } catch (err) {
        schedule(RECHECK_MS); // the network: ask again soon
      }
    }

    const stay = dialog.querySelector("[data-stay]");
    if (stay) {
      stay.addEventListener("click", async () => {
        try {
          const answer = await ask("POST");
          dismissed = false;
          follow(answer);
        } catch (err) {
          try {
            follow(await ask("GET")); // perhaps signed in again elsewhere, or signed out
          } catch (again) {
            const problem = dialog.querySelector("[data-problem]");
            if (problem) problem.hidden = false;
          }
        }
      });
    }
    for (const button of dialog.querySelectorAll("[data-close]")) {
      button.addEventListener("click", () => {
        dismissed = true;
        hide();
      });
    }
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && !ended) check();
    });
    // The page's own figure; the server is asked again before any warning shows.
    const left = (Number(dialog.dataset.secondsLeft) || 0) * 1000;
    if (left > WARN_MS) schedule(left - WARN_MS);
    else check();
  }

  document.addEventListener("DOMContentLoaded", () => {
    const dialog = document.getElementById("session-dialog");
    if (!dialog) return;
    keepDrafts(dialog.dataset.staff || "", dialog.dataset.restored || "");
    watchSession(dialog);
  });
})();
