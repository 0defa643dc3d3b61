// Group chat: live messages over the realtime WebSocket (/api/ws, authenticated by the
// session cookie), replies. The server renders every message: a frame only says which one
// arrived or changed, and the page fetches its HTML in the member's language.
(function () {
  "use strict";
  var chat = document.querySelector(".chat");
  if (!chat) { return; }
  var groupId = chat.dataset.group;
  var live = chat.dataset.live === "1";
  var list = document.getElementById("messages");
  var status = document.getElementById("live-status");
  var socket = null;
  var retry = 1000;

  function say(text) { if (status) { status.textContent = text || ""; } }
  // The newest messages sit just above the composer: show both.
  function atEnd() { var composer = document.getElementById("composer"); if (composer) { composer.scrollIntoView({block: "end"}); } }

  function fetchInto(id, target, swap) {
    return htmx.ajax("GET", "/groups/" + groupId + "/messages/" + id, {target: target, swap: swap});
  }
  function added(id) {
    if (document.getElementById("m-" + id)) { return; }
    var empty = document.getElementById("no-messages");
    if (empty) { empty.remove(); }
    fetchInto(id, "#messages", "beforeend").then(atEnd);
  }
  function changed(id) {
    if (document.getElementById("m-" + id)) { fetchInto(id, "#m-" + id, "outerHTML"); }
  }

  var ADDED = {message_posted: 1, message_forwarded: 1, message_released: 1, message_restored: 1};
  var CHANGED = {message_recalled: 1, message_deleted: 1, message_removed: 1};

  function onFrame(frame) {
    // A correction (a message this member saw was debunked) is for the member, not the group.
    if (frame.type === "correction_sent") {
      var alert = document.getElementById("correction-alert");
      if (alert) { alert.hidden = false; }
      return;
    }
    if (String(frame.group_id) !== groupId) { return; }
    var p = frame.payload || {};
    if (ADDED[frame.type] && p.message) { added(p.message.id); }
    else if (CHANGED[frame.type] && p.message_id) { changed(p.message_id); }
    else if (frame.type === "messages_labelled" && p.message_ids) { p.message_ids.forEach(changed); }
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/api/ws");
    socket.onopen = function () { retry = 1000; say(chat.dataset.liveOn); chat.dataset.connected = "1"; };
    socket.onmessage = function (event) {
      try { onFrame(JSON.parse(event.data)); } catch (e) { /* a frame we do not know */ }
    };
    socket.onclose = function (event) {
      chat.dataset.connected = "0";
      if (event.code === 4401) { say(chat.dataset.liveExpired); return; }
      say(chat.dataset.liveOff);
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 30000);
    };
  }
  if (live && window.WebSocket) {
    connect();
    setInterval(function () {
      if (socket && socket.readyState === 1) { socket.send('{"type":"ping"}'); }
    }, 25000);
  }

  // Replies: the button on a message fills the composer's hidden field.
  var replyTo = document.getElementById("reply-to");
  var replying = document.getElementById("replying");
  var replyName = document.getElementById("replying-name");
  var text = document.getElementById("f-text");
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-reply]");
    if (button) {
      replyTo.value = button.dataset.reply;
      replyName.textContent = button.dataset.replyName;
      replying.hidden = false;
      text.focus();
    } else if (event.target.id === "reply-cancel") {
      replyTo.value = "";
      replying.hidden = true;
      text.focus();
    }
  });
  if (replyTo && replyTo.value) { replying.hidden = false; }
  if (live) { atEnd(); }
})();
