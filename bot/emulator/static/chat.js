// Offline preview chat page: a person chats with the real bot through the local emulator.
// Bot HTML is rebuilt node by node from a DOMParser tree with an allow-list, never assigned as markup.
(() => {
  "use strict";

  const LANGS = ["sv", "en", "ar", "fa", "so", "ti", "tr", "fi"];
  const MAX_TEXT = 4096;
  const KEY_CHAT = "emulator.chatId";
  const KEY_LANG = "emulator.lang";
  const TYPING_MS = 5000;
  const KIND_LABELS = {
    sticker: "🙂 Sticker",
    photo: "🖼️ Photo",
    voice: "🎤 Voice message",
    document: "📄 Document",
    location: "📍 Location",
    contact: "👤 Contact",
  };
  const SIMPLE_TAGS = {
    b: "strong", strong: "strong", i: "em", em: "em", u: "u", ins: "u",
    s: "s", strike: "s", del: "s", code: "code", pre: "pre", blockquote: "blockquote",
  };

  const $ = (id) => document.getElementById(id);
  const el = {
    log: $("log"), messages: $("messages"), empty: $("empty"), description: $("description"),
    start: $("start"), status: $("status"), botName: $("bot-name"), botInitial: $("bot-initial"),
    botStatus: $("bot-status"), lang: $("lang"), newChat: $("new-chat"), form: $("composer-form"),
    composer: $("composer"), counter: $("counter"), attach: $("attach"),
    attachMenu: $("attach-menu"), commandsButton: $("commands-button"),
    commandsMenu: $("commands-menu"), commandsList: $("commands-list"),
    replyKeyboard: $("reply-keyboard"), alert: $("alert"), alertText: $("alert-text"),
  };

  let chatId = null;
  let seq = -1;
  let pollGeneration = 0;
  let pollAbort = null;
  let lastToastId = null;
  let typingTimer = null;
  // Follow the conversation (keep the newest message on screen) unless the relative has
  // scrolled up to read; sending, tapping or a new chat follows again.
  let follow = true;
  let statusTimer = null;
  let defaultPlaceholder = el.composer.placeholder;
  const bubbles = new Map(); // message_id -> {node, sig}

  // ---------------------------------------------------------------- helpers

  function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

  function storage(key, value) {
    try {
      if (value === undefined) return sessionStorage.getItem(key);
      if (value === null) sessionStorage.removeItem(key);
      else sessionStorage.setItem(key, value);
    } catch (_) { /* storage can be disabled; the page still works without it */ }
    return null;
  }

  function defaultLanguage() {
    const saved = storage(KEY_LANG);
    if (LANGS.includes(saved)) return saved;
    const wanted = navigator.languages && navigator.languages.length
      ? navigator.languages : [navigator.language || ""];
    for (const tag of wanted) {
      const base = String(tag).toLowerCase().split("-")[0];
      if (LANGS.includes(base)) return base;
    }
    return "sv";
  }

  function showStatus(text, { toast = false, ms = 4000 } = {}) {
    clearTimeout(statusTimer);
    el.status.textContent = text;
    el.status.classList.toggle("toast", toast);
    if (text && ms) statusTimer = setTimeout(() => { el.status.textContent = ""; }, ms);
  }

  async function api(path, { method = "GET", body, signal } = {}) {
    const init = { method, signal, headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    let data = null;
    try { data = await response.json(); } catch (_) { data = null; }
    if (!response.ok) {
      const error = new Error((data && data.error) || `HTTP ${response.status}`);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function safeHref(href) {
    if (!href) return null;
    try {
      const url = new URL(href);
      return ["http:", "https:", "tg:"].includes(url.protocol) ? url.href : null;
    } catch (_) {
      return null;
    }
  }

  function utf16Length(text) { return text.length; } // JS strings are UTF-16, like Telegram

  // ---------------------------------------------------------------- reading direction

  // Right-to-left scripts (bidi classes R and AL): Hebrew, Arabic, Syriac, Thaana, NKo,
  // Samaritan, Mandaic, their presentation forms, and the RTL blocks of the SMP.
  const RTL_CHAR = /[\u0590-\u08FF\uFB1D-\uFDFF\uFE70-\uFEFC\u{10800}-\u{10FFF}\u{1E800}-\u{1EFFF}]/u;
  const STRONG_LTR = /[\p{L}\p{Mc}]/u;
  const WEAK = /[\p{Mn}\p{Me}\p{Nd}\p{Cf}]/u; // marks, digits (also Arabic-Indic), format
  const ISOLATE_OPEN = new Set(["\u2066", "\u2067", "\u2068"]); // LRI, RLI, FSI
  const ISOLATE_CLOSE = "\u2069"; // PDI

  // The paragraph direction of a text as Telegram's clients and the Unicode bidi algorithm
  // (rules P2-P3) decide it: its first strong character, skipping what is inside isolates
  // (the bot isolates Latin names and numbers in RTL sentences). null: no strong character.
  function textDirection(value) {
    let depth = 0;
    for (const ch of String(value || "")) {
      if (ISOLATE_OPEN.has(ch)) { depth += 1; continue; }
      if (ch === ISOLATE_CLOSE) { if (depth) depth -= 1; continue; }
      if (depth) continue;
      if (ch === "\u200F" || ch === "\u061C") return "rtl"; // RLM, ALM
      if (ch === "\u200E") return "ltr"; // LRM
      if (WEAK.test(ch)) continue;
      if (RTL_CHAR.test(ch)) return "rtl";
      if (STRONG_LTR.test(ch)) return "ltr";
    }
    return null;
  }

  function pageDirection() { return document.documentElement.dir === "rtl" ? "rtl" : "ltr"; }

  // ---------------------------------------------------------------- Telegram HTML

  function makeSpoiler() {
    const span = document.createElement("span");
    span.className = "spoiler";
    span.tabIndex = 0;
    span.setAttribute("role", "button");
    span.setAttribute("aria-pressed", "false");
    span.title = "Hidden text — press to reveal";
    const reveal = (event) => {
      if (event.type === "keydown" && event.key !== "Enter" && event.key !== " ") return;
      event.preventDefault();
      span.classList.add("revealed");
      span.setAttribute("aria-pressed", "true");
      span.removeAttribute("title");
    };
    span.addEventListener("click", reveal);
    span.addEventListener("keydown", reveal);
    return span;
  }

  function appendSafe(target, source) {
    for (const child of source.childNodes) {
      if (child.nodeType === Node.TEXT_NODE) {
        target.appendChild(document.createTextNode(child.data));
        continue;
      }
      if (child.nodeType !== Node.ELEMENT_NODE) continue; // comments etc. are dropped
      const tag = child.localName;
      let out = null;
      if (Object.prototype.hasOwnProperty.call(SIMPLE_TAGS, tag)) {
        out = document.createElement(SIMPLE_TAGS[tag]);
        if (tag === "blockquote" && child.hasAttribute("expandable")) out.className = "expandable";
      } else if (tag === "tg-spoiler" || (tag === "span" && child.classList.contains("tg-spoiler"))) {
        out = makeSpoiler();
      } else if (tag === "a") {
        const href = safeHref(child.getAttribute("href"));
        if (href) {
          out = document.createElement("a");
          out.href = href;
          out.target = "_blank";
          out.rel = "noopener noreferrer";
        }
      }
      if (out) {
        appendSafe(out, child);
        target.appendChild(out);
      } else {
        appendSafe(target, child); // unknown tag: keep only its text
      }
    }
  }

  function renderTelegramHtml(html) {
    const doc = new DOMParser().parseFromString(String(html), "text/html");
    const fragment = document.createDocumentFragment();
    if (doc.body) appendSafe(fragment, doc.body);
    return fragment;
  }

  // ---------------------------------------------------------------- messages

  function signature(message) {
    return JSON.stringify([message.text, message.html, message.parse_mode, message.reply_markup,
      message.edited, message.kind]);
  }

  function formatTime(date) {
    if (!date) return "";
    return new Date(date * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  // The keyboard takes the message's direction, so its rows flow right-to-left under an RTL
  // message; each button's label has its own direction (a Latin "English" stays LTR).
  function buildKeyboard(message, dir) {
    const rows = message.reply_markup && message.reply_markup.inline_keyboard;
    if (!Array.isArray(rows) || !rows.length) return null;
    const keyboard = document.createElement("div");
    keyboard.className = "keyboard";
    keyboard.dir = dir;
    keyboard.setAttribute("role", "group");
    keyboard.setAttribute("aria-label", "Answer options");
    for (const row of rows) {
      if (!Array.isArray(row)) continue;
      const rowEl = document.createElement("div");
      rowEl.className = "row";
      for (const button of row) {
        if (!button || typeof button !== "object") continue;
        const b = document.createElement("button");
        b.type = "button";
        b.dataset.testid = "inline-button";
        b.textContent = String(button.text || "");
        b.dir = textDirection(b.textContent) || dir;
        if (typeof button.callback_data === "string") {
          b.dataset.callbackData = button.callback_data;
          b.addEventListener("click", () => pressButton(message.message_id, button.callback_data, b));
        } else if (button.url) {
          const href = safeHref(button.url);
          b.textContent += " ↗";
          b.title = href ? `Opens ${href}` : "Link not allowed in the preview";
          b.disabled = !href;
          b.addEventListener("click", () => { if (href) window.open(href, "_blank", "noopener"); });
        } else if (button.copy_text && typeof button.copy_text.text === "string") {
          b.addEventListener("click", async () => {
            try {
              await navigator.clipboard.writeText(button.copy_text.text);
              showStatus("Copied", { toast: true, ms: 2000 });
            } catch (_) {
              showStatus("Could not copy", { toast: true, ms: 2000 });
            }
          });
        } else {
          b.disabled = true;
          b.title = "Not available in the preview";
        }
        rowEl.appendChild(b);
      }
      keyboard.appendChild(rowEl);
    }
    return keyboard;
  }

  function buildMessage(message) {
    const from = message.from_bot ? "bot" : "user";
    const node = document.createElement("div");
    node.className = "msg";
    node.dataset.testid = "message";
    node.dataset.from = from;
    node.dataset.messageId = String(message.message_id);

    const bubble = document.createElement("div");
    bubble.className = "bubble";
    const text = document.createElement("div");
    text.className = "text";
    if (message.from_bot && message.parse_mode && message.parse_mode.toUpperCase() === "HTML"
        && typeof message.html === "string") {
      text.appendChild(renderTelegramHtml(message.html));
    } else if (!message.from_bot && message.kind && message.kind !== "text") {
      text.classList.add("kind");
      text.textContent = KIND_LABELS[message.kind] || message.kind;
    } else {
      text.textContent = String(message.text || "");
    }
    bubble.appendChild(text);
    // The whole message (bubble, text, keyboard) reads in the direction of its text's first
    // strong character, as in Telegram; the bubble stays on its sender's side of the chat.
    const dir = textDirection(text.textContent) || pageDirection();
    node.dir = dir;
    bubble.dir = dir;
    text.dir = dir;

    const meta = document.createElement("div");
    meta.className = "meta";
    meta.dir = pageDirection(); // the preview's own words and the time keep the page's side
    if (message.edited) {
      const edited = document.createElement("span");
      edited.textContent = "edited";
      meta.appendChild(edited);
    }
    const time = document.createElement("time");
    time.textContent = formatTime(message.date);
    if (message.date) time.dateTime = new Date(message.date * 1000).toISOString();
    meta.appendChild(time);
    bubble.appendChild(meta);
    node.appendChild(bubble);

    const keyboard = message.from_bot ? buildKeyboard(message, dir) : null;
    if (keyboard) node.appendChild(keyboard);
    return node;
  }

  function atBottom() {
    return el.log.scrollHeight - el.log.scrollTop - el.log.clientHeight < 120;
  }

  function showNewest() {
    el.log.scrollTop = el.log.scrollHeight;
  }

  function renderMessages(messages) {
    const active = document.activeElement;
    let refocus = null;
    const seen = new Set();
    let previous = null;
    let changed = false;
    for (const message of messages) {
      const id = message.message_id;
      seen.add(id);
      const sig = signature(message);
      let entry = bubbles.get(id);
      if (!entry || entry.sig !== sig) {
        const node = buildMessage(message);
        if (entry) {
          node.style.animation = "none"; // an edit replaces the bubble in place, quietly
          if (entry.node.contains(active)) refocus = { node, data: active.dataset.callbackData };
          entry.node.replaceWith(node);
        }
        changed = true; // new, or edited (an edit may grow the bubble)
        entry = { node, sig };
        bubbles.set(id, entry);
      }
      const expectedNext = previous ? previous.nextSibling : el.messages.firstChild;
      if (entry.node !== expectedNext) {
        el.messages.insertBefore(entry.node, expectedNext);
      }
      previous = entry.node;
    }
    for (const [id, entry] of bubbles) {
      if (!seen.has(id)) {
        if (entry.node.contains(active)) refocus = { node: null };
        entry.node.remove();
        bubbles.delete(id);
      }
    }
    if (refocus) {
      let target = null;
      if (refocus.node) {
        const buttons = [...refocus.node.querySelectorAll("button:not(:disabled)")];
        target = buttons.find((b) => b.dataset.callbackData === refocus.data) || buttons[0];
      }
      (target || el.composer).focus({ preventScroll: true });
    }
    return changed;
  }

  function renderReplyKeyboard(markup) {
    el.replyKeyboard.replaceChildren();
    const rows = markup && Array.isArray(markup.keyboard) ? markup.keyboard : null;
    el.replyKeyboard.hidden = !rows;
    el.composer.placeholder = (markup && markup.input_field_placeholder) || defaultPlaceholder;
    if (!rows) return;
    const labelOf = (button) => (typeof button === "string" ? button : button && button.text);
    const dir = textDirection(rows.flat().map(labelOf).join(" ")) || pageDirection();
    el.replyKeyboard.dir = dir; // rows flow like the labels read
    for (const row of rows) {
      if (!Array.isArray(row)) continue;
      const rowEl = document.createElement("div");
      rowEl.className = "row";
      for (const button of row) {
        const label = labelOf(button);
        if (!label) continue;
        const b = document.createElement("button");
        b.type = "button";
        b.dir = textDirection(label) || dir;
        b.dataset.testid = "reply-button";
        b.textContent = label;
        b.addEventListener("click", () => sendText(label));
        rowEl.appendChild(b);
      }
      el.replyKeyboard.appendChild(rowEl);
    }
  }

  function renderCommands(commands) {
    el.commandsList.replaceChildren();
    const list = Array.isArray(commands) ? commands : [];
    el.commandsButton.hidden = !list.length;
    if (!list.length) closePopover(el.commandsMenu, el.commandsButton, false);
    for (const command of list) {
      const item = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.dir = "auto";
      b.textContent = `/${command.command} — ${command.description}`;
      b.addEventListener("click", () => {
        closePopover(el.commandsMenu, el.commandsButton, false);
        sendText(`/${command.command}`);
      });
      item.appendChild(b);
      el.commandsList.appendChild(item);
    }
  }

  function setTyping(on) {
    clearTimeout(typingTimer);
    el.botStatus.textContent = on ? "typing…" : "bot";
    el.botStatus.classList.toggle("typing", on);
    if (on) typingTimer = setTimeout(() => setTyping(false), TYPING_MS);
  }

  function render(snapshot, { first = false } = {}) {
    seq = snapshot.seq;
    const bot = snapshot.bot || {};
    el.botName.textContent = bot.first_name || "Bot";
    el.botInitial.textContent = (bot.first_name || "B").slice(0, 1).toUpperCase();
    document.title = `${bot.first_name || "Bot"} — offline preview`;
    const messages = Array.isArray(snapshot.messages) ? snapshot.messages : [];
    const changed = renderMessages(messages);
    el.empty.hidden = messages.length > 0;
    el.description.textContent = snapshot.description || "";
    renderReplyKeyboard(snapshot.reply_keyboard);
    renderCommands(snapshot.commands);
    setTyping(Boolean(snapshot.typing));
    const user = snapshot.user || {};
    if (user.language_code && LANGS.includes(user.language_code)) {
      el.lang.value = user.language_code;
    }
    const toast = snapshot.toast;
    if (toast && toast.id !== lastToastId) {
      if (!first) {
        if (toast.show_alert && typeof el.alert.showModal === "function") {
          el.alertText.textContent = toast.text;
          if (!el.alert.open) el.alert.showModal();
        } else {
          showStatus(toast.text, { toast: true });
        }
      }
      lastToastId = toast.id;
    }
    // Last, once the reply keyboard and status took their room from the log.
    if (first || (changed && follow)) showNewest();
  }

  // ---------------------------------------------------------------- chat lifecycle

  function resetView() {
    bubbles.clear();
    el.messages.replaceChildren();
    seq = -1;
    lastToastId = null;
    follow = true;
  }

  async function createChat() {
    const snapshot = await api("api/chats", {
      method: "POST", body: { language_code: el.lang.value },
    });
    chatId = snapshot.chat_id;
    storage(KEY_CHAT, String(chatId));
    resetView();
    render(snapshot, { first: true });
    startPolling();
  }

  async function openChat() {
    const saved = storage(KEY_CHAT);
    if (saved && /^\d+$/.test(saved)) {
      try {
        const snapshot = await api(`api/chats/${saved}`);
        chatId = snapshot.chat_id;
        resetView();
        render(snapshot, { first: true });
        startPolling();
        return;
      } catch (error) {
        if (error.status !== 404) throw error;
      }
    }
    await createChat();
  }

  function startPolling() {
    pollGeneration += 1;
    const generation = pollGeneration;
    if (pollAbort) pollAbort.abort();
    pollAbort = new AbortController();
    const { signal } = pollAbort;
    (async () => {
      let failures = 0;
      while (generation === pollGeneration) {
        try {
          const snapshot = await api(`api/chats/${chatId}/events?after=${seq}`, { signal });
          if (generation !== pollGeneration) return;
          if (failures) showStatus("");
          failures = 0;
          render(snapshot);
        } catch (error) {
          if (signal.aborted || generation !== pollGeneration) return;
          if (error.status === 404) { // the emulator restarted: start over with a new chat
            showStatus("The preview restarted — starting a new chat.");
            await createChat().catch(() => {});
            return;
          }
          failures += 1;
          showStatus("Connection lost — retrying…", { ms: 0 });
          await sleep(Math.min(1000 * failures, 5000));
        }
      }
    })();
  }

  // ---------------------------------------------------------------- user actions

  async function sendText(text) {
    if (!chatId) return false;
    if (!text.trim()) return false;
    if (utf16Length(text) > MAX_TEXT) {
      showStatus(`Messages can be at most ${MAX_TEXT} characters.`);
      return false;
    }
    follow = true;
    try {
      await api(`api/chats/${chatId}/text`, { method: "POST", body: { text } });
      return true;
    } catch (error) {
      showStatus(`Could not send: ${error.message}`);
      return false;
    }
  }

  async function pressButton(messageId, data, button) {
    const keyboard = button.closest(".keyboard");
    const buttons = keyboard ? [...keyboard.querySelectorAll("button")] : [button];
    buttons.forEach((b) => { b.disabled = true; });
    button.setAttribute("aria-busy", "true");
    follow = true;
    try {
      await api(`api/chats/${chatId}/button`, {
        method: "POST", body: { message_id: messageId, callback_data: data },
      });
    } catch (error) {
      showStatus(`Button failed: ${error.message}`);
    } finally {
      // If the bot edits the message the bubble is replaced anyway; otherwise re-enable.
      setTimeout(() => {
        if (!button.isConnected) return;
        buttons.forEach((b) => { if (b.dataset.callbackData !== undefined) b.disabled = false; });
        button.removeAttribute("aria-busy");
      }, 600);
    }
  }

  async function sendKind(kind) {
    follow = true;
    try {
      await api(`api/chats/${chatId}/send`, { method: "POST", body: { kind } });
    } catch (error) {
      showStatus(`Could not send: ${error.message}`);
    }
  }

  function updateCounter() {
    const length = utf16Length(el.composer.value);
    el.counter.textContent = length > MAX_TEXT - 500 ? `${length} / ${MAX_TEXT}` : "";
    el.counter.classList.toggle("over", length > MAX_TEXT);
    el.composer.style.height = "auto";
    el.composer.style.height = `${Math.min(el.composer.scrollHeight + 2, 200)}px`;
  }

  async function submitComposer() {
    const text = el.composer.value;
    if (!text.trim()) return;
    el.composer.value = "";
    updateCounter();
    const sent = await sendText(text);
    if (!sent && !el.composer.value) {
      el.composer.value = text; // give the text back so nothing typed is lost
      updateCounter();
    }
  }

  function openPopover(menu, trigger) {
    closePopover(el.attachMenu, el.attach, false);
    closePopover(el.commandsMenu, el.commandsButton, false);
    menu.hidden = false;
    trigger.setAttribute("aria-expanded", "true");
    const first = menu.querySelector("button");
    if (first) first.focus();
  }

  function closePopover(menu, trigger, returnFocus = true) {
    if (menu.hidden) return;
    menu.hidden = true;
    trigger.setAttribute("aria-expanded", "false");
    if (returnFocus) trigger.focus();
  }

  function togglePopover(menu, trigger) {
    if (menu.hidden) openPopover(menu, trigger);
    else closePopover(menu, trigger);
  }

  // ---------------------------------------------------------------- wiring

  el.form.addEventListener("submit", (event) => {
    event.preventDefault();
    submitComposer();
  });
  el.composer.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submitComposer();
    }
  });
  el.composer.addEventListener("input", updateCounter);
  el.start.addEventListener("click", () => sendText("/start"));
  el.attach.addEventListener("click", () => togglePopover(el.attachMenu, el.attach));
  el.commandsButton.addEventListener("click", () => togglePopover(el.commandsMenu, el.commandsButton));
  for (const button of el.attachMenu.querySelectorAll("button[data-kind]")) {
    button.addEventListener("click", () => {
      closePopover(el.attachMenu, el.attach);
      sendKind(button.dataset.kind);
    });
  }
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    closePopover(el.attachMenu, el.attach, el.attachMenu.contains(document.activeElement));
    closePopover(el.commandsMenu, el.commandsButton,
      el.commandsMenu.contains(document.activeElement));
  });
  document.addEventListener("click", (event) => {
    const inside = (node) => node.contains(event.target);
    if (!inside(el.attachMenu) && !inside(el.attach)) closePopover(el.attachMenu, el.attach, false);
    if (!inside(el.commandsMenu) && !inside(el.commandsButton)) {
      closePopover(el.commandsMenu, el.commandsButton, false);
    }
  });
  el.log.addEventListener("scroll", () => { follow = atBottom(); }, { passive: true });
  el.lang.addEventListener("change", async () => {
    storage(KEY_LANG, el.lang.value);
    if (!chatId) return;
    try {
      await api(`api/chats/${chatId}/language`, {
        method: "POST", body: { language_code: el.lang.value },
      });
      const name = el.lang.selectedOptions[0] ? el.lang.selectedOptions[0].textContent : el.lang.value;
      showStatus(`Phone language set to ${name}. The bot's language stays as chosen in the chat.`);
    } catch (error) {
      showStatus(`Could not change language: ${error.message}`);
    }
  });
  el.newChat.addEventListener("click", async () => {
    el.newChat.disabled = true;
    try {
      await createChat();
      showStatus("New chat started");
      el.composer.focus();
    } catch (error) {
      showStatus(`Could not start a new chat: ${error.message}`);
    } finally {
      el.newChat.disabled = false;
    }
  });

  el.lang.value = defaultLanguage();
  updateCounter();
  openChat().catch((error) => showStatus(`The preview is not reachable: ${error.message}`, { ms: 0 }));
})();
