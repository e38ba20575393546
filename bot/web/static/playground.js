/* The playground's chat view: long-polls the web chat's log, posts messages and presses.
 * Everything shown is inserted with textContent: what users type is never HTML. */
(function () {
  "use strict";

  var root = document.getElementById("pg-chat");
  var switcher = document.getElementById("pg-switch");
  if (switcher) {
    switcher.querySelector("select").addEventListener("change", function () {
      switcher.submit();
    });
  }
  if (!root) return;

  var base = "/playground/api/chats/" + encodeURIComponent(root.dataset.chat);
  var csrf = root.dataset.csrf;
  var logEl = document.getElementById("pg-log");
  var statusEl = document.getElementById("pg-status");
  var toastsEl = document.getElementById("pg-toasts");
  var form = document.getElementById("pg-compose");
  var textEl = form.querySelector("textarea");
  var nameEl = form.querySelector("input[name=name]");
  var sendBtn = form.querySelector("button[type=submit]");
  var replyBar = document.getElementById("pg-replying");
  var NAME_KEY = "hisbot.playground.name";

  var after = 0;
  var replyTo = null;
  var items = new Map(); // message id → {li, msg}

  try {
    var saved = window.localStorage.getItem(NAME_KEY);
    if (saved) nameEl.value = saved;
  } catch (e) { /* storage disabled: keep the default */ }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function sleep(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  function setStatus(text, bad) {
    statusEl.textContent = text || "";
    statusEl.classList.toggle("error", !!bad);
  }

  function toast(text) {
    var node = el("div", "pg-toast", text);
    toastsEl.appendChild(node);
    setTimeout(function () { node.remove(); }, 4000);
  }

  function clock(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return "";
    return d.toLocaleTimeString("zh-CN", { hour: "2-digit", minute: "2-digit" });
  }

  function safeHref(url) {
    return typeof url === "string" && /^(https?:\/\/|\/(?!\/))/.test(url) ? url : null;
  }

  // A notice's download link (and any web address the bot sends) is clickable; the text
  // around it stays text nodes.
  var URL_RE = /https?:\/\/[^\s<>"'，。；）]+/g;

  function linked(text) {
    var box = el("div", "pg-text");
    var last = 0;
    text.replace(URL_RE, function (url, at) {
      box.appendChild(document.createTextNode(text.slice(last, at)));
      var a = el("a", "pg-link", url);
      a.href = safeHref(url) || "#";
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      box.appendChild(a);
      last = at + url.length;
      return url;
    });
    box.appendChild(document.createTextNode(text.slice(last)));
    return box;
  }

  async function detail(response) {
    try {
      var data = await response.json();
      if (data && typeof data.detail === "string") return data.detail;
    } catch (e) { /* not JSON */ }
    if (response.status === 401) return "登录已失效，请刷新页面重新登录。";
    if (response.status === 403) return "页面已过期，请刷新后重试。";
    return "请求失败（" + response.status + "），请稍后重试。";
  }

  function post(path, body) {
    return fetch(base + path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
    });
  }

  // -- rendering -----------------------------------------------------------------------------

  function startReply(msg) {
    replyTo = msg.id;
    replyBar.querySelector(".pg-replying-text").textContent =
      msg.sender + "：" + msg.text.slice(0, 40);
    replyBar.hidden = false;
    textEl.focus();
  }

  function stopReply() {
    replyTo = null;
    replyBar.hidden = true;
  }

  async function press(msg, button, node) {
    var all = node.querySelectorAll(".pg-row button");
    all.forEach(function (b) { b.disabled = true; });
    try {
      var r = await post("/presses", { message_id: msg.id, action: button.action });
      if (r.status !== 202) toast(await detail(r));
    } catch (e) {
      toast("网络错误，请稍后重试。");
    } finally {
      setTimeout(function () { all.forEach(function (b) { b.disabled = false; }); }, 1500);
    }
  }

  function render(msg) {
    var li = el("li", "pg-msg pg-" + (msg.kind === "bot" ? "bot" : "user"));
    li.dataset.id = msg.id;
    var meta = el("div", "pg-meta");
    meta.appendChild(el("span", "pg-sender", msg.sender));
    if (msg.badge) meta.appendChild(el("span", "pg-badge", "（" + msg.badge + "）"));
    meta.appendChild(el("time", null, clock(msg.sent_at)));
    if (msg.edited) meta.appendChild(el("span", "pg-edited", "已更新"));
    li.appendChild(meta);
    if (msg.quote) {
      li.appendChild(el("blockquote", "pg-quote", msg.quote.sender + "：" + msg.quote.text));
    }
    li.appendChild(msg.kind === "bot" ? linked(msg.text) : el("div", "pg-text", msg.text));
    if (msg.mentions && msg.mentions.length) {
      li.appendChild(el("div", "pg-mentions", "@" + msg.mentions.join(" @")));
    }
    if (msg.citation) {
      var href = safeHref(msg.citation.url);
      var cite = el(href ? "a" : "span", "pg-cite", "知识库：" + msg.citation.title);
      if (href) {
        cite.href = href;
        cite.target = "_blank";
        cite.rel = "noopener";
      }
      li.appendChild(cite);
    }
    if (msg.buttons && msg.buttons.length) {
      var box = el("div", "pg-buttons");
      msg.buttons.forEach(function (row) {
        var rowEl = el("div", "pg-row");
        row.forEach(function (button) {
          var b = el("button", null, button.label);
          b.type = "button";
          b.addEventListener("click", function () { press(msg, button, li); });
          rowEl.appendChild(b);
        });
        box.appendChild(rowEl);
      });
      li.appendChild(box);
    }
    var reply = el("button", "link pg-reply", "回复");
    reply.type = "button";
    reply.addEventListener("click", function () { startReply(msg); });
    li.appendChild(reply);
    return li;
  }

  function upsert(msg) {
    var known = items.get(msg.id);
    if (known && known.msg.seq >= msg.seq) return;
    var li = render(msg);
    if (known) {
      known.li.replaceWith(li);
    } else {
      logEl.appendChild(li);
    }
    items.set(msg.id, { li: li, msg: msg });
  }

  function apply(data) {
    var atBottom = logEl.scrollHeight - logEl.scrollTop - logEl.clientHeight < 80;
    (data.messages || []).forEach(upsert);
    (data.toasts || []).forEach(function (t) { toast(t.text); });
    after = Math.max(after, data.seq || 0);
    if (atBottom || (data.messages || []).length) logEl.scrollTop = logEl.scrollHeight;
  }

  // -- the long poll -------------------------------------------------------------------------

  async function poll() {
    var delay = 1000;
    var full = true; // the first request takes the whole log (kept in the database)
    for (;;) {
      try {
        var wait = full ? 0 : 25;
        var r = await fetch(base + "/messages?after=" + after + "&wait=" + wait, {
          credentials: "same-origin",
          cache: "no-store",
        });
        if (r.status === 401 || r.status === 403 || r.status === 404) {
          setStatus(await detail(r), true);
          return; // signed out or no longer allowed: retrying will not help
        }
        if (!r.ok) throw new Error("HTTP " + r.status);
        var data = await r.json();
        apply(data);
        if (!full || statusEl.classList.contains("error")) setStatus("");
        full = false;
        delay = 1000;
      } catch (e) {
        setStatus("连接中断，" + Math.round(delay / 1000) + " 秒后重试…", true);
        await sleep(delay);
        delay = Math.min(delay * 2, 30000);
      }
    }
  }

  // -- sending -------------------------------------------------------------------------------

  async function send() {
    var text = textEl.value.trim();
    if (!text || sendBtn.disabled) return;
    var name = nameEl.value.trim();
    try { window.localStorage.setItem(NAME_KEY, name); } catch (e) { /* ignore */ }
    sendBtn.disabled = true;
    try {
      var r = await post("/messages", { text: text, reply_to: replyTo, name: name });
      if (r.status === 202) {
        textEl.value = "";
        stopReply();
        apply({ messages: [(await r.json()).message], seq: 0 });
      } else {
        toast(await detail(r));
      }
    } catch (e) {
      toast("网络错误，消息未发出，请重试。");
    } finally {
      sendBtn.disabled = false;
      textEl.focus();
    }
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    send();
  });
  textEl.addEventListener("keydown", function (ev) {
    // Enter sends; Shift+Enter is a new line; Enter that confirms an IME candidate is not a send
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
      ev.preventDefault();
      send();
    }
  });
  document.getElementById("pg-reply-cancel").addEventListener("click", stopReply);

  poll();
})();
