/* The console's live feed for engineers: new, urgent (P1), warned and overdue tickets arrive
 * over server-sent events (/live/events). A badge on 工单 counts them; a toast says what
 * happened; with the browser's permission a desktop notification too, and a P1 sounds.
 * On the ticket list new tickets appear at once (P1 pinned on top) and overdue rows are
 * marked. Everything is inserted with textContent: ticket text is never HTML. */
(function () {
  "use strict";
  if (!window.EventSource) return;

  var badge = document.getElementById("live-badge");
  var toasts = document.getElementById("live-toasts");
  var notifyBtn = document.getElementById("live-notify");
  var rows = document.getElementById("ticket-rows");
  var count = 0;
  var audio = null;

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function bump() {
    if (!badge) return;
    count += 1;
    badge.textContent = String(count);
    badge.hidden = false;
  }

  function toast(kind, title, body, url) {
    if (!toasts) return;
    var box = el("div", "live-toast " + kind);
    var link = el("a", null, title);
    link.href = url;
    box.appendChild(link);
    box.appendChild(el("div", "muted", body));
    toasts.appendChild(box);
    window.setTimeout(function () { box.remove(); }, 15000);
  }

  function notify(title, body, url) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    try {
      var n = new Notification(title, { body: body, tag: url });
      n.onclick = function () { window.focus(); window.location.href = url; };
    } catch (e) { /* some browsers only notify from a service worker */ }
  }

  function beep() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var osc = audio.createOscillator();
      var gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.value = 0.2;
      osc.connect(gain);
      gain.connect(audio.destination);
      osc.start();
      osc.stop(audio.currentTime + 0.6);
    } catch (e) { /* no audio: the toast and the badge still show */ }
  }

  if (notifyBtn && "Notification" in window && Notification.permission === "default") {
    notifyBtn.hidden = false;
    notifyBtn.addEventListener("click", function () {
      beep(); // a click unlocks the page's audio for later P1 alarms
      Notification.requestPermission().then(function () { notifyBtn.hidden = true; });
    });
  }

  function cell(text, cls) { return el("td", cls || null, text); }

  function addRow(d) {
    if (!rows || rows.dataset.live !== "1") return;
    if (rows.querySelector('tr[data-number="' + d.number + '"]')) return;
    var empty = rows.querySelector("tr.empty");
    if (empty) empty.remove();
    var tr = el("tr", "live-new" + (d.urgency === "P1" ? " pinned" : ""));
    tr.dataset.number = d.number;
    var first = cell("");
    var a = el("a", null, "#" + d.number);
    a.href = d.url;
    first.appendChild(a);
    tr.appendChild(first);
    var q = cell(d.question);
    q.appendChild(el("span", "muted narrow-only", d.hospital));
    tr.appendChild(q);
    tr.appendChild(cell(d.hospital, "optional"));
    var u = cell("");
    u.appendChild(el("span", "badge " + d.urgency, d.urgency_label));
    tr.appendChild(u);
    var s = cell("");
    s.appendChild(el("span", "badge " + d.status, d.status_label));
    tr.appendChild(s);
    tr.appendChild(cell("计时中", "sla"));
    tr.appendChild(cell(d.category, "optional"));
    tr.appendChild(cell("—", "optional"));
    tr.appendChild(cell(d.created, "optional"));
    var pinned = rows.querySelectorAll("tr.pinned");
    if (d.urgency === "P1" || !pinned.length) {
      rows.insertBefore(tr, rows.firstChild);
    } else {
      var last = pinned[pinned.length - 1];
      rows.insertBefore(tr, last.nextSibling);
    }
  }

  function markOverdue(d) {
    if (!rows) return;
    var tr = rows.querySelector('tr[data-number="' + d.number + '"]');
    if (!tr) return;
    tr.classList.add("overdue");
    var sla = tr.querySelector("td.sla");
    if (sla) sla.textContent = d.clock + "超时";
  }

  var source = new EventSource("/live/events");
  source.onopen = function () { document.body.dataset.live = "open"; };
  source.onerror = function () { document.body.dataset.live = "reconnecting"; };
  function opened(kind, title) {
    return function (e) {
      var d = JSON.parse(e.data);
      bump();
      addRow(d);
      toast(kind, title + d.number, d.hospital + "：" + d.question, d.url);
      notify(title + d.number, d.hospital + "：" + d.question, d.url);
      if (kind === "urgent") beep();
    };
  }
  source.addEventListener("new", opened("new", "新工单 #"));
  source.addEventListener("urgent", opened("urgent", "紧急 P1 #"));
  source.addEventListener("warning", function (e) {
    var d = JSON.parse(e.data);
    toast("warning", "即将超时 #" + d.number, d.clock + "时限 " + d.due + " 到期", d.url);
  });
  source.addEventListener("overdue", function (e) {
    var d = JSON.parse(e.data);
    bump();
    markOverdue(d);
    toast("overdue", "已超时 #" + d.number, d.hospital + " " + d.clock + "时限已过", d.url);
    notify("已超时 #" + d.number, d.hospital + " " + d.clock + "时限已过", d.url);
    if (d.urgency === "P1") beep();
  });
})();
