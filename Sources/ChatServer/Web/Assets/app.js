// chatd's web client: the JSON event protocol (docs/PROTOCOL.md) over a WebSocket at /ws.
// Everything from the server is shown with textContent, never parsed as HTML.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const ui = {
    login: $("login"), loginForm: $("login-form"), nickInput: $("nick-input"), loginError: $("login-error"),
    loginButton: $("login-button"), loginStatus: $("login-status"), serverName: $("server-name"), motd: $("motd"),
    chat: $("chat"), roomList: $("room-list"), joinForm: $("join-form"), joinInput: $("join-input"), myNick: $("my-nick"),
    roomTitle: $("room-title"), roomTopic: $("room-topic"), status: $("connection-status"), messages: $("messages"),
    sendForm: $("send-form"), messageInput: $("message-input"), membersTitle: $("members-title"), memberList: $("member-list"),
    notifyToggle: $("notify-toggle"), membersToggle: $("members-toggle"),
  };

  // The session, kept across reconnections.
  const state = {
    socket: null,
    nick: null,            // registered nick
    wantedNick: localStorage.getItem("chatd.nick") || "",
    rooms: new Map(),      // key -> {name, members: [], lines: [], unread: 0, mentioned: false, private: bool}
                           // (a room's key is its lower-cased name; a private conversation's is "@" + the nick's)
    current: null,         // key of the room (or private conversation) on screen
    serverCurrent: null,   // key of the room the server has as current (plain lines go there)
    rejoin: [],            // rooms to join again after a reconnection (current last)
    nextId: 1,
    outstanding: new Set(),
    queue: [],
    window: 8,
    maxLineBytes: 2048,
    retry: 0,
    retryTimer: null,
    leaving: false,
    shown: new Set(),      // ids of the user's own /who and /topic requests, whose answers are shown
    older: new Map(),      // id of a request for a room's older lines (scrolling up) -> the room's key
    byeCode: null,         // why the server said it closes (bye's code): no reconnecting after a kick or ban
    lastReason: null,      // why the connection ended, said the same way in the header and the log until back
    restoring: null,       // after a reconnection, the room to be current once rejoined; until then
                           // the rooms rejoined (each made current on the way) keep their unread badges
    serverName: "chatd",
    notify: localStorage.getItem("chatd.notify") === "1",   // browser notifications, opt-in
  };
  const MAX_LINES = 1000;   // per room, older lines are dropped
  const HISTORY = [];
  let historyIndex = -1;

  // ---- connection -------------------------------------------------------------------------

  function connect() {
    clearTimeout(state.retryTimer);
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/ws`);
    state.socket = socket;
    state.outstanding.clear();
    state.queue = [];
    setStatus("Connecting…", false);
    state.helloSent = false;
    socket.addEventListener("open", () => {
      socket.opened = true;
      setStatus("", true);
      state.helloSent = true;
      if (state.wantedNick) request({ type: "hello", nick: state.wantedNick, client: "web" });
      else request({ type: "hello", client: "web" });
    });
    socket.addEventListener("message", (message) => {
      if (state.socket !== socket) return;
      let event;
      try { event = JSON.parse(message.data); } catch { return; }
      if (event && typeof event.type === "string") handle(event);
    });
    socket.addEventListener("close", (close) => {
      if (state.socket !== socket) return;
      state.socket = null;
      const wasRegistered = state.nick !== null;
      if (wasRegistered) {
        // The rooms to join again (private conversations are no rooms), the current one last.
        const keys = [...state.rooms.keys()].filter((key) => key !== state.current && !state.rooms.get(key).private);
        if (state.current && !state.rooms.get(state.current).private) keys.push(state.current);
        state.rejoin = keys.map((key) => state.rooms.get(key).name);
      }
      state.nick = null;
      if (state.leaving) { setStatus("You left. Reload the page to come back.", false); return; }
      // Until we are back, the reason stays the one the outage began with (a failed retry only
      // says the server cannot be reached yet).
      const reason = close.reason || (!socket.opened && state.lastReason)
        || (close.code === 1006 ? "the connection was lost" : `closed (${close.code})`);
      state.lastReason = reason;
      const sentAway = state.byeCode === "kicked" || state.byeCode === "banned" || (close.code === 1008 && /banned/i.test(reason));
      state.byeCode = null;
      if (sentAway) {
        // An operator's decision: coming straight back would undo it.
        const what = /banned/i.test(reason) ? "Banned" : "Kicked";
        info(`Disconnected: ${reason}. Not reconnecting; reload the page to come back.`, "error");
        setStatus(`${what}: ${reason}.`, false);
        return;
      }
      const delay = Math.min(30, 2 ** state.retry) * (0.8 + Math.random() * 0.4);
      state.retry += 1;
      const seconds = Math.round(delay);
      if (wasRegistered) info(`Disconnected: ${reason}. Reconnecting in ${seconds} s…`, "error");
      setStatus(`Disconnected: ${reason}. Reconnecting in ${seconds} s…`, false);
      ui.loginStatus.textContent = ui.chat.hidden ? `Cannot reach the server (${reason}); retrying in ${seconds} s…` : "";
      state.retryTimer = setTimeout(connect, delay * 1000);
    });
  }

  // Sends a request with an id; at most `window` are unanswered at once (the server holds lines
  // beyond its flood burst, up to floodQueueLines, and answers each), the rest wait here.
  function request(body) {
    const id = `w${state.nextId++}`;
    const text = JSON.stringify({ ...body, id });
    if (new TextEncoder().encode(text).length + 1 > state.maxLineBytes) {
      info(`That is too long to send: the server takes at most ${state.maxLineBytes} bytes.`, "error");
      return false;
    }
    state.queue.push({ id, text });
    pump();
    return id;
  }

  function pump() {
    const socket = state.socket;
    while (socket && socket.readyState === WebSocket.OPEN && state.queue.length && state.outstanding.size < state.window) {
      const next = state.queue.shift();
      state.outstanding.add(next.id);
      socket.send(next.text);
    }
  }

  // ---- events -----------------------------------------------------------------------------

  function handle(event) {
    if (event.re && state.outstanding.delete(event.re)) pump();
    switch (event.type) {
      case "hello":
        state.serverName = event.server || "chatd";
        ui.serverName.textContent = state.serverName;
        updateTitle();
        ui.motd.textContent = (event.motd || []).join("\n");
        if (event.limits) {
          state.window = Math.max(1, Math.min(8, event.limits.floodQueueLines));
          state.maxLineBytes = event.limits.maxLineBytes;
        }
        if (!state.wantedNick) showLogin();
        break;
      case "nick_required":
        showLogin();   // after a refusal: the error event just before says why
        break;
      case "welcome":
        welcome(event);
        break;
      case "error":
        if (event.code && event.code.startsWith("nick_") && state.nick === null) {
          if (event.code === "nick_in_use" && state.rejoin.length && !state.wantedNick.endsWith("_")) {
            state.wantedNick += "_";   // our old connection may still hold the nick
            request({ type: "nick", nick: state.wantedNick });
          } else {
            showLogin(event.message);
          }
        } else {
          line(event, [["error", `Error: ${event.message}`]]);
        }
        break;
      case "message":
      case "action":
        ensureRoom(event.room).lastId = Math.max(state.rooms.get(keyOf(event.room)).lastId || 0, event.id);
        roomLine(event.room, event, messageParts(event, event.type === "action"));
        break;
      case "private": {
        // Each conversation has its own entry in the room list, whatever room is on screen.
        const own = event.re !== undefined;   // our own message, echoed to us alone
        const key = conversation(own ? event.to : event.from);
        const parts = own
          ? [["private", `→ *${event.to}* `], ["", event.text]]
          : [["private", `*${event.from}* `], ["", event.text]];
        parts.classes = own ? "own" : "";
        parts.mentioned = !own;   // a private message counts as a mention
        addLine(key, event, parts, own);
        if (!own) notifyOf(`${event.from} (private)`, event.text, key);
        break;
      }
      case "join": {
        const room = ensureRoom(event.room);
        if (!room.members.includes(event.nick)) room.members.push(event.nick);
        if (event.nick === state.nick) {
          // Joining makes it current. Rooms rejoined after a reconnection keep their badges,
          // but the last, which was on screen before.
          const key = keyOf(event.room);
          select(key, false, state.restoring !== null);
        }
        roomLine(event.room, event, [["status", `${event.nick} has joined ${event.room}`]], true);
        if (keyOf(event.room) === state.current) renderMembers();
        break;
      }
      case "part":
      case "kick": {
        // A kick is a part someone else decided: the room is not joined again by itself.
        const key = keyOf(event.room);
        const room = state.rooms.get(key);
        const why = event.reason ? ` (${event.reason})` : "";
        const kicked = event.type === "kick";
        if (event.nick === state.nick) {
          state.rooms.delete(key);
          if (state.current === key) state.current = null;
          renderRooms();
          info(kicked ? `${event.by} kicked you from ${event.room}${why}.` : `You left ${event.room}${why}.`, kicked ? "error" : "status");
        } else if (room) {
          room.members = room.members.filter((n) => n !== event.nick);
          delete room.roles[event.nick];
          const said = kicked ? `${event.nick} was kicked from ${event.room} by ${event.by}${why}` : `${event.nick} has left ${event.room}${why}`;
          roomLine(event.room, event, [["status", said]], true);
          if (key === state.current) renderMembers();
        }
        break;
      }
      case "mode": {
        const room = ensureRoom(event.room);
        for (const change of event.changes) {
          const role = { o: "op", v: "voice" }[change.mode[1]];
          if (!role || !change.arg) continue;
          const had = (room.roles[change.arg] || []).filter((r) => r !== role);
          room.roles[change.arg] = change.mode[0] === "+" ? [...had, role] : had;
        }
        const described = event.changes.map((c) => c.mode).join("") + event.changes.filter((c) => c.arg).map((c) => ` ${c.arg}`).join("");
        roomLine(event.room, event, [["status", `${event.by || "The server's operator"} sets mode ${described}`]], true);
        if (keyOf(event.room) === state.current) renderMembers();
        break;
      }
      case "modes":
        line(event, [["status", `Modes of ${event.room}: ${event.modes}${event.key ? `k (key: ${event.key})` : ""}`]]);
        break;
      case "invite":
        if (event.from === state.nick && event.re !== undefined) line(event, [["status", `You invited ${event.to} to ${event.room}.`]]);
        else line(event, [["notice", `${event.from} invites you to ${event.room}: /join ${event.room}`]]);
        break;
      case "quit":
        for (const [key, room] of state.rooms) {
          if (!room.members.includes(event.nick)) continue;
          room.members = room.members.filter((n) => n !== event.nick);
          addLine(key, event, [["status", `${event.nick} has quit (${event.reason})`]], true);
        }
        renderMembers();
        break;
      case "nick":
        for (const [key, room] of state.rooms) {
          if (!room.members.includes(event.old)) continue;
          room.members = room.members.map((n) => (n === event.old ? event.new : n));
          if (room.roles && room.roles[event.old]) { room.roles[event.new] = room.roles[event.old]; delete room.roles[event.old]; }
          addLine(key, event, [["status", `${event.old} is now known as ${event.new}`]], true);
        }
        if (event.old === state.nick) {
          state.nick = event.new;
          state.wantedNick = event.new;
          localStorage.setItem("chatd.nick", event.new);
          ui.myNick.textContent = event.new;
        }
        renderMembers();
        break;
      case "current":
        ensureRoom(event.room);
        select(keyOf(event.room), false, state.restoring !== null);
        break;
      case "who": {
        const room = state.rooms.get(keyOf(event.room));
        if (room) { room.members = event.members.slice(); room.roles = event.roles || {}; }
        if (keyOf(event.room) === state.current) renderMembers();
        if (event.re && state.shown.delete(event.re)) {
          line(event, [["status", `${event.room} (${event.members.length}): ${event.members.join(", ")}`]]);
        }
        break;
      }
      case "history": {
        if (event.re && state.older.has(event.re)) { prependOlder(state.older.get(event.re), event); state.older.delete(event.re); break; }
        // Scrollback on joining: older lines, each at its own time, marked as history, never
        // counted as unread or as mentions. After a reconnection only the lines this page
        // has not shown yet (ids are the server's, for good).
        // An answer to /history (it has `re`) shows what it asked for, in a block.
        const room = ensureRoom(event.room);
        const asked = event.re !== undefined;
        if (asked) roomLine(event.room, event, [["status", `History of ${event.room} (${event.lines.length} lines):`]], true);
        for (const old of event.lines) {
          if (!asked && old.id <= (room.lastId || 0)) continue;
          if (!asked) room.lastId = old.id;
          roomLine(event.room, old, historyParts(event.room, old), true);
        }
        if (!asked) fillView();
        break;
      }
      case "topic": {
        const room = ensureRoom(event.room);
        room.topic = event.text;
        if (keyOf(event.room) === state.current) renderTopic();
        if (event.changedBy) {
          const said = event.text ? `${event.changedBy} set the topic: ${event.text}` : `${event.changedBy} cleared the topic`;
          roomLine(event.room, event, [["status", said]], true);
        } else if (event.re && state.shown.delete(event.re)) {
          line(event, [["status", event.text
            ? `Topic of ${event.room}: ${event.text} (set by ${event.setBy}, ${new Date(event.setAt).toLocaleString()})`
            : `${event.room} has no topic`]]);
        }
        break;
      }
      case "whois": {
        const rooms = event.rooms.length ? `in ${event.rooms.join(", ")}` : "in no room";
        const since = new Date(event.connectedAt).toLocaleString();
        const away = event.away ? `; away: ${event.away}` : "";
        line(event, [["status", `${event.nick}: ${rooms}; connected since ${since}; idle ${shortDuration(event.idleSeconds)}; client ${event.client}${away}`]]);
        break;
      }
      case "user_notice":
        if (event.to.startsWith("#")) roomLine(event.to, event, [["notice", `-${event.from}- ${event.text}`]]);
        else line(event, [["notice", event.from === state.nick ? `-> -${event.to}- ${event.text}` : `-${event.from}- ${event.text}`]]);
        break;
      case "account":
        line(event, [["status", event.name ? `You are signed in as ${event.name}.` : "You are not signed in to an account now."]]);
        break;
      case "away_set":
        line(event, [["status", event.text ? `You are marked as away: ${event.text}` : "You are no longer marked as away."]]);
        break;
      case "away":
        line(event, [["status", `${event.nick} is away: ${event.text}`]]);
        break;
      case "rooms":
        if (!event.rooms.length) { line(event, [["status", "No rooms."]]); break; }
        line(event, [["status", `Rooms (${event.rooms.length}):`]]);
        for (const r of event.rooms) line(event, [["status", `${r.name} (${r.members})${r.topic ? `: ${r.topic}` : ""}`]]);
        break;
      case "help":
        for (const text of event.lines) line(event, [["help", text]]);   // in columns: monospace
        break;
      case "notice":
        line(event, [["notice", event.text]]);
        break;
      case "announcement":
        line(event, [["announcement", `Announcement${event.room ? ` to ${event.room}` : ""}: ${event.text}`]]);
        break;
      case "pong":
        line(event, [["status", `pong${event.token ? ` ${event.token}` : ""}`]]);
        break;
      case "bye":
        state.byeCode = event.code || null;
        state.lastReason = event.reason;
        break;
      default:
        break;
    }
    if (state.restoring !== null && event.re === state.restoring) state.restoring = null;
  }

  function welcome(event) {
    state.nick = event.nick;
    state.wantedNick = event.nick;
    state.retry = 0;
    localStorage.setItem("chatd.nick", event.nick);
    ui.myNick.textContent = event.nick;
    ui.login.hidden = true;
    ui.chat.hidden = false;
    setStatus("", true);
    state.lastReason = null;
    const reconnected = state.rejoin.length > 0;
    // The server starts us in its default room; a reconnection rejoins the others. Private
    // conversations stay as they were.
    const lobby = keyOf(event.room);
    for (const [key, room] of [...state.rooms]) {
      if (room.private) continue;
      if (!state.rejoin.some((name) => keyOf(name) === key) && key !== lobby) state.rooms.delete(key);
      else room.members = [];
    }
    ensureRoom(event.room);
    // Until the last rejoin is answered, each room made current on the way keeps its unread
    // badge (the last one was on screen before, so it has none).
    let lastJoin = null;
    for (const name of state.rejoin) if (keyOf(name) !== lobby) lastJoin = request({ type: "join", room: name });
    const last = state.rejoin[state.rejoin.length - 1];
    if (last && keyOf(last) === lobby && state.rejoin.length > 1) lastJoin = request({ type: "join", room: event.room });
    state.restoring = lastJoin || null;
    select(lobby, false, state.restoring !== null);
    state.rejoin = [];
    if (reconnected) info("Reconnected.", "notice");
    ui.messageInput.focus();
  }

  // ---- rendering --------------------------------------------------------------------------

  const keyOf = (name) => name.toLowerCase();

  // The entry of the private conversation with `nick`, made on its first message.
  function conversation(nick) {
    const key = `@${nick.toLowerCase()}`;
    if (!state.rooms.has(key)) {
      state.rooms.set(key, { name: nick, members: [], lines: [], unread: 0, mentioned: false, private: true });
      renderRooms();
    }
    return key;
  }

  function ensureRoom(name) {
    const key = keyOf(name);
    if (!state.rooms.has(key)) {
      state.rooms.set(key, { name, members: [], roles: {}, lines: [], unread: 0, mentioned: false });
      renderRooms();
    }
    return state.rooms.get(key);
  }

  // Shows a room. `tell` (a click) makes it current on the server too; events that changed the
  // current room there do not.
  // `keepUnread`: a room made current by a reconnection, not by the user, keeps its badge.
  function select(key, tell, keepUnread) {
    if (!state.rooms.has(key)) return;
    const room = state.rooms.get(key);
    if (tell && !room.private && state.serverCurrent !== key && state.nick !== null) request({ type: "join", room: room.name });
    if (!room.private) state.serverCurrent = key;
    state.current = key;
    if (!keepUnread) {
      room.unread = 0;
      room.mentioned = false;
    }
    ui.roomTitle.textContent = room.private ? `Private: ${room.name}` : room.name;
    renderTopic();
    ui.chat.classList.remove("show-members");
    renderRooms();
    renderMembers();
    renderMessages();
  }

  function messageParts(event, action) {
    const own = event.from === state.nick;
    const mentioned = !own && state.nick && event.text.toLowerCase().includes(state.nick.toLowerCase());
    const nick = ["nick", event.from, nickColor(event.from)];
    const parts = action ? [["action", "* "], nick, ["action", ` ${event.text}`]] : [["", "<"], nick, ["", "> "], ["", event.text]];
    parts.classes = [own ? "own" : "", mentioned ? "mention" : "", action ? "action" : ""].filter(Boolean).join(" ");
    parts.mentioned = mentioned;
    return parts;
  }

  // A kept line, marked as history: never unread, never a mention.
  function historyParts(roomName, old) {
    const parts = messageParts({ ...old, room: roomName }, old.action);
    parts.classes = [parts.classes, "history"].filter(Boolean).join(" ");
    parts.mentioned = false;
    parts.id = old.id;
    return parts;
  }

  // Scrolled to the top of a room: ask for the lines before the oldest shown, once at a time.
  const OLDER_PAGE = 100;
  function loadOlder() {
    const room = state.rooms.get(state.current);
    if (!room || room.private || room.noOlder || room.loadingOlder || state.nick === null) return;
    const ids = room.lines.map((entry) => entry.parts.id).filter((id) => id !== undefined);
    if (!ids.length) return;
    const id = request({ type: "history", room: room.name, before: Math.min(...ids), limit: OLDER_PAGE });
    if (!id) return;
    room.loadingOlder = true;
    state.older.set(id, state.current);
  }

  // The older lines asked for, above those shown, with the view kept where it was.
  function prependOlder(key, event) {
    const room = state.rooms.get(key);
    if (!room) return;
    room.loadingOlder = false;
    if (event.lines.length < OLDER_PAGE) room.noOlder = true;
    const entries = event.lines.map((old) => ({ time: old.ts, parts: historyParts(event.room, old) }));
    room.lines.unshift(...entries);
    room.cap = room.lines.length + MAX_LINES / 2;
    if (key !== state.current || !entries.length) return;
    const fromBottom = ui.messages.scrollHeight - ui.messages.scrollTop;
    renderMessages();
    ui.messages.scrollTop = ui.messages.scrollHeight - fromBottom;
    fillView();
  }

  // While the view has room above its lines (nothing to scroll), older lines fill it.
  function fillView() {
    if (ui.messages.scrollHeight <= ui.messages.clientHeight + 40) loadOlder();
  }

  ui.messages.addEventListener("scroll", () => { if (ui.messages.scrollTop < 40) loadOlder(); });

  function renderTopic() {
    const room = state.rooms.get(state.current);
    const topic = room && !room.private ? room.topic || "" : "";
    ui.roomTopic.textContent = topic;
    ui.roomTopic.title = topic;
  }

  function roomLine(roomName, event, parts, quiet) {
    ensureRoom(roomName);
    addLine(keyOf(roomName), event, parts, quiet);
  }

  // A line for the current view (private messages, notices, replies).
  function line(event, parts, classes) {
    if (classes) parts.classes = classes;
    const key = state.current || [...state.rooms.keys()][0];
    if (key) addLine(key, event, parts, true);
  }

  function info(text, kind) {
    line({ ts: new Date().toISOString() }, [[kind, text]]);
  }

  function addLine(key, event, parts, quiet) {
    const room = state.rooms.get(key);
    if (!room) return;
    if (parts.id === undefined && (event.type === "message" || event.type === "action")) parts.id = event.id;
    const entry = { time: event.ts, parts };
    room.lines.push(entry);
    // Older lines loaded by scrolling up stay until the room is left.
    const cap = Math.max(MAX_LINES, room.cap || 0);
    if (room.lines.length > cap) {
      room.lines.splice(0, room.lines.length - cap);
      room.noOlder = false;
    }
    if (key === state.current) {
      appendLine(entry);
    } else if (!quiet) {
      room.unread += 1;
      room.mentioned = room.mentioned || Boolean(parts.mentioned);
      renderRooms();
    }
    if (parts.mentioned && !room.private) notifyOf(`${event.from} in ${room.name}`, event.text, key);
  }

  // A browser notification, when the user turned them on, and is looking elsewhere.
  function notifyOf(title, body, key) {
    if (!state.notify || !("Notification" in window) || window.Notification.permission !== "granted") return;
    if (!document.hidden && key === state.current) return;
    const note = new window.Notification(title, { body, tag: key });
    note.onclick = () => { window.focus(); select(key, true); };
  }

  function updateTitle() {
    let unread = 0;
    for (const room of state.rooms.values()) unread += room.unread;
    document.title = unread ? `(${unread}) ${state.serverName}` : state.serverName;
  }

  function renderNotifyToggle() {
    ui.notifyToggle.hidden = !("Notification" in window);
    ui.notifyToggle.textContent = state.notify ? "Notifications: on" : "Notifications: off";
    ui.notifyToggle.setAttribute("aria-pressed", String(state.notify));
  }

  function renderMessages() {
    ui.messages.replaceChildren();
    const room = state.rooms.get(state.current);
    if (room) for (const entry of room.lines) appendLine(entry);
  }

  function appendLine(entry) {
    const atBottom = ui.messages.scrollHeight - ui.messages.scrollTop - ui.messages.clientHeight < 40;
    const li = document.createElement("li");
    if (entry.parts.classes) li.className = entry.parts.classes;
    const time = document.createElement("span");
    time.className = "time";
    const date = entry.time ? new Date(entry.time) : new Date();
    time.textContent = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    time.title = date.toLocaleString();
    li.append(time);
    // The text in a column of its own: a long message wraps under its first line, not under
    // the time.
    const body = document.createElement("span");
    body.className = "body";
    for (const [cls, text, color] of entry.parts) {
      const span = document.createElement("span");
      if (cls) span.className = cls;
      if (color) span.style.color = color;
      span.textContent = text;   // text, never HTML
      body.append(span);
    }
    li.append(body);
    ui.messages.append(li);
    if (atBottom) ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  function renderRooms() {
    ui.roomList.replaceChildren();
    for (const [key, room] of state.rooms) {
      const li = document.createElement("li");
      li.dataset.room = room.private ? `@${room.name}` : room.name;
      li.classList.toggle("current", key === state.current);
      li.classList.toggle("unread", room.unread > 0);
      li.classList.toggle("private", Boolean(room.private));
      const name = document.createElement("span");
      name.className = "room-name";
      name.textContent = room.private ? `@${room.name}` : room.name;
      li.append(name);
      if (room.unread > 0 && key !== state.current) {
        const badge = document.createElement("span");
        badge.className = room.mentioned ? "badge mention" : "badge";
        badge.textContent = String(room.unread);
        li.append(badge);
      }
      li.addEventListener("click", () => select(key, true));
      ui.roomList.append(li);
    }
    updateTitle();
  }

  function renderMembers() {
    ui.memberList.replaceChildren();
    const room = state.rooms.get(state.current);
    if (!room) return;
    const members = (room.private ? [state.nick, room.name] : [...room.members]).sort((a, b) => a.localeCompare(b));
    ui.membersTitle.textContent = `Members (${members.length})`;
    for (const nick of members) {
      const li = document.createElement("li");
      const roles = (!room.private && room.roles[nick]) || [];
      const badge = roles.includes("op") ? "@" : roles.includes("voice") ? "+" : "";
      li.textContent = badge + nick;
      if (badge) li.title = roles.join(", ");
      li.style.color = nickColor(nick);
      ui.memberList.append(li);
    }
  }

  // The same nick gets the same colour everywhere (FNV-1a of the lower-cased nick, as in chat).
  function nickColor(nick) {
    let hash = 2166136261;
    for (const byte of new TextEncoder().encode(nick.toLowerCase())) {
      hash ^= byte;
      hash = Math.imul(hash, 16777619) >>> 0;
    }
    return `hsl(${hash % 360} 65% 45%)`;
  }

  function setStatus(text, up) {
    ui.status.textContent = text;
    ui.status.classList.toggle("down", !up);
  }

  // The nickname form; `error`, when given, is the server's reason for refusing the last one.
  function showLogin(error) {
    ui.chat.hidden = true;
    ui.login.hidden = false;
    if (error !== undefined) ui.loginError.textContent = error;
    ui.loginButton.disabled = false;
    if (!ui.nickInput.value) ui.nickInput.value = state.wantedNick;
    ui.nickInput.focus();
    ui.nickInput.select();
  }

  // ---- the user's input -------------------------------------------------------------------

  ui.loginForm.addEventListener("submit", (submit) => {
    submit.preventDefault();
    const nick = ui.nickInput.value.trim();
    if (!nick) return;
    state.wantedNick = nick;
    ui.loginError.textContent = "";
    ui.loginButton.disabled = true;
    if (!state.socket) { connect(); return; }                       // waiting to retry: now
    if (state.socket.readyState !== WebSocket.OPEN) return;         // hello will carry the nick
    request({ type: state.helloSent ? "nick" : "hello", nick });
  });

  ui.joinForm.addEventListener("submit", (submit) => {
    submit.preventDefault();
    const name = ui.joinInput.value.trim();
    if (!name) return;
    request({ type: "join", room: name.startsWith("#") ? name : `#${name}` });
    ui.joinInput.value = "";
  });

  ui.sendForm.addEventListener("submit", (submit) => {
    submit.preventDefault();
    const text = ui.messageInput.value;
    if (!text.trim()) return;
    if (!state.socket || state.socket.readyState !== WebSocket.OPEN || state.nick === null) {
      info("Not connected: the message is kept; send it again once reconnected.", "error");
      return;
    }
    if (send(text)) {
      HISTORY.push(text);
      historyIndex = -1;
      ui.messageInput.value = "";
    }
  });

  ui.messageInput.addEventListener("keydown", (key) => {
    if (key.key === "ArrowUp" && HISTORY.length) {
      historyIndex = historyIndex < 0 ? HISTORY.length - 1 : Math.max(0, historyIndex - 1);
      ui.messageInput.value = HISTORY[historyIndex];
      key.preventDefault();
    } else if (key.key === "ArrowDown" && historyIndex >= 0) {
      historyIndex += 1;
      ui.messageInput.value = historyIndex < HISTORY.length ? HISTORY[historyIndex] : "";
      if (historyIndex >= HISTORY.length) historyIndex = -1;
      key.preventDefault();
    } else if (key.key === "Tab") {
      const value = ui.messageInput.value;
      const word = value.split(" ").pop();
      const room = state.rooms.get(state.current);
      if (!word || !room) return;
      const match = room.members.find((n) => n !== state.nick && n.toLowerCase().startsWith(word.toLowerCase()));
      if (match) {
        const head = value.slice(0, value.length - word.length);
        ui.messageInput.value = head + match + (head ? " " : ": ");
      }
      key.preventDefault();
    }
  });

  // A line typed in the box: /commands, or a message to the current room.
  function send(text) {
    const room = state.rooms.get(state.current);
    if (!text.startsWith("/") || text.startsWith("//")) {
      if (!room) { info("Join a room first: /join #room", "error"); return false; }
      const body = text.startsWith("//") ? text.slice(1) : text;
      if (room.private) return request({ type: "private", to: room.name, text: body });
      return request({ type: "message", room: room.name, text: body });
    }
    const [head, ...rest] = text.slice(1).split(" ");
    const args = rest.join(" ").trim();
    const first = args.split(" ")[0];
    const after = args.slice(first.length).trim();
    switch (head.toLowerCase()) {
      case "me":
        if (!args) return usage("/me <action>");
        if (!room || room.private) { info("/me is for rooms: /join #room", "error"); return false; }
        return request({ type: "action", room: room.name, text: args });
      case "join": case "j":
        if (!first) return usage("/join <#room> [key]");
        return request({ type: "join", room: first.startsWith("#") ? first : `#${first}`, ...(after ? { key: after } : {}) });
      case "kick": case "k": {
        // [#room] nick [reason], as in the text protocol.
        const words = args ? args.split(" ") : [];
        const named = words[0] && words[0].startsWith("#") ? words.shift() : (room && !room.private ? room.name : undefined);
        const nick = words.shift();
        if (!nick || !named) return usage("/kick [#room] <nick> [reason]");
        const reason = words.join(" ").trim();
        return request({ type: "kick", room: named, nick, ...(reason ? { reason } : {}) });
      }
      case "invite":
        if (!first) return usage("/invite <nick> [#room]");
        return request({ type: "invite", nick: first, ...(after ? { room: after } : room && !room.private ? { room: room.name } : {}) });
      case "mode": case "op": case "deop": case "voice": case "devoice": {
        const words = args ? args.split(" ") : [];
        const named = words[0] && words[0].startsWith("#") ? words.shift() : (room && !room.private ? room.name : undefined);
        if (!named) return usage(`/${head} [#room] ...`);
        const verb = head.toLowerCase();
        if (verb !== "mode") {
          if (!words.length) return usage(`/${verb} [#room] <nick>`);
          const letter = verb.endsWith("op") ? "o" : "v";
          return request({ type: "mode", room: named, modes: (verb.startsWith("de") ? "-" : "+") + letter.repeat(words.length), args: words });
        }
        const modes = words.shift();
        return request({ type: "mode", room: named, ...(modes ? { modes, args: words } : {}) });
      }
      case "part": case "leave":
        if (first.startsWith("#")) return request({ type: "part", room: first, ...(after ? { reason: after } : {}) });
        if (room && room.private) { closeConversation(state.current); return true; }
        return request({ type: "part", ...(room ? { room: room.name } : {}), ...(args ? { reason: args } : {}) });
      case "msg": case "query": case "m":
        if (!first || !after) return usage("/msg <nick> <text>");
        return request({ type: "private", to: first, text: after });
      case "nick":
        if (!first) return usage("/nick <new-nick>");
        return request({ type: "nick", nick: first });
      case "who": case "names": {
        const id = request({ type: "who", ...(first ? { room: first } : room ? { room: room.name } : {}) });
        if (id) state.shown.add(id);
        return id;
      }
      case "history": {
        const count = parseInt(args.split(" ").find((word) => /^[0-9]+$/.test(word)) || "50", 10);
        const named = first && first.startsWith("#") ? first : (room && !room.private ? room.name : undefined);
        return request({ type: "history", ...(named ? { room: named } : {}), limit: Math.min(count, 1000) });
      }
      case "topic": case "t": {
        // As in the text protocol: [-delete] [#room] [text].
        let words = args ? args.split(" ") : [];
        const remove = words[0] && words[0].toLowerCase() === "-delete";
        if (remove) words = words.slice(1);
        const named = words[0] && words[0].startsWith("#") ? words.shift() : (room && !room.private ? room.name : undefined);
        const topic = words.join(" ").trim();
        if (remove && topic) return usage("/topic [-delete] [#room] [text]");
        if (!named) { info("/topic is for rooms: /join #room", "error"); return false; }
        if (remove || topic) return request({ type: "topic", room: named, text: remove ? "" : topic });
        const id = request({ type: "topic", room: named });
        if (id) state.shown.add(id);
        return id;
      }
      case "whois": case "wi":
        if (!first) return usage("/whois <nick>");
        return request({ type: "whois", nick: first });
      case "rooms": case "list":
        return request({ type: "rooms" });
      case "away":
        return request({ type: "away", ...(args ? { text: args } : {}) });
      case "register":
        if (!args) return usage("/register <password>");
        return request({ type: "register", password: args });
      case "login": case "identify":
        // One word is the password (of your nick's account); two or more, a nick and a password.
        if (!first) return usage("/login [nick] <password>");
        return request(after ? { type: "login", nick: first, password: after } : { type: "login", password: first });
      case "password":
        if (!first || !after) return usage("/password <old> <new>");
        return request({ type: "password", old: first, new: after });
      case "unregister":
        if (!args) return usage("/unregister <password>");
        return request({ type: "unregister", password: args });
      case "help": case "?":
        return request({ type: "help", ...(first ? { topic: first } : {}) });
      case "ping":
        return request({ type: "ping", ...(first ? { token: first } : {}) });
      case "quit": case "exit": case "bye":
        state.leaving = true;
        return request({ type: "quit", ...(args ? { reason: args } : {}) });
      default:
        info(`Unknown command /${head}. Type /help for the list (start a line with // to send one that begins with /).`, "error");
        return false;
    }
  }

  // Closes a private conversation's entry (it comes back with the next message).
  function closeConversation(key) {
    state.rooms.delete(key);
    const next = [...state.rooms.keys()].find((k) => !state.rooms.get(k).private) || [...state.rooms.keys()][0];
    state.current = null;
    if (next) select(next, true);
    else renderRooms();
  }

  // The server's short durations (ChatCore's Durations.short): 45s, 12m05s, 3h07m, 2d04h.
  function shortDuration(seconds) {
    const s = Math.max(0, seconds), two = (n) => String(n).padStart(2, "0");
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m${two(s % 60)}s`;
    if (s < 86400) return `${Math.floor(s / 3600)}h${two(Math.floor(s / 60) % 60)}m`;
    return `${Math.floor(s / 86400)}d${two(Math.floor(s / 3600) % 24)}h`;
  }

  function usage(text) {
    info(`Usage: ${text}`, "error");
    return false;
  }

  ui.notifyToggle.addEventListener("click", () => {
    if (state.notify) {
      state.notify = false;
      localStorage.setItem("chatd.notify", "0");
      renderNotifyToggle();
      return;
    }
    window.Notification.requestPermission().then((permission) => {
      state.notify = permission === "granted";
      localStorage.setItem("chatd.notify", state.notify ? "1" : "0");
      if (!state.notify) info("Notifications are blocked for this page in the browser's settings.", "error");
      renderNotifyToggle();
    });
  });

  ui.membersToggle.addEventListener("click", () => ui.chat.classList.toggle("show-members"));
  $("members-close").addEventListener("click", () => ui.chat.classList.remove("show-members"));

  ui.nickInput.value = state.wantedNick;
  renderNotifyToggle();
  connect();
})();
