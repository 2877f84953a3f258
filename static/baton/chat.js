// Customer chat: open a session, then speak the /ws/chat/ protocol (ack, token, message, handoff, error).
// The first message sent starts the session if "Start chatting" was not pressed, so nothing typed is lost;
// a customer's message reads "Sending…" until the server acknowledges it, and "Not sent" when it can't be.
(function () {
  const log = document.getElementById("log");
  const statusLine = document.getElementById("status");
  const startPanel = document.getElementById("start");
  const startForm = document.getElementById("start-form");
  const composer = document.getElementById("composer");
  const textBox = document.getElementById("text");
  const bubbles = {};
  const names = { customer: "You", ai: "Assistant", agent: "Agent", system: "" };
  let socket = null;
  let session = null;
  let starting = null;
  // Messages not yet acknowledged, in the order sent; resent after a reconnect (the server dedupes by client_id).
  const unacked = new Map();
  // The server answers each frame in order with an ack or an error: the oldest of these gets the next one.
  let inFlight = [];

  function setStatus(text, isError) {
    statusLine.textContent = text || "";
    statusLine.classList.toggle("error", !!isError);
  }

  function bubble(id, role, text, who) {
    let el = id && bubbles[id];
    if (!el) {
      el = document.createElement("div");
      el.className = "bubble " + role;
      el.dataset.role = role;
      const label = document.createElement("span");
      label.className = "who";
      label.textContent = who || names[role] || "";
      const body = document.createElement("span");
      body.className = "text";
      el.append(label, body);
      log.append(el);
      if (id) bubbles[id] = el;
    }
    if (text !== undefined) el.querySelector(".text").textContent = text;
    log.scrollTop = log.scrollHeight;
    return el;
  }

  // The articles an AI reply answered from, under it: a link when the article has a URL.
  function showCitations(el, citations) {
    if (!citations || !citations.length || el.querySelector(".citations")) return;
    const box = document.createElement("span");
    box.className = "citations";
    box.append("Sources: ");
    citations.forEach((c, i) => {
      if (i) box.append(" · ");
      const item = document.createElement(c.url ? "a" : "span");
      item.textContent = c.title || c.external_id;
      if (c.url) { item.href = c.url; item.target = "_blank"; item.rel = "noopener noreferrer"; }
      box.append(item);
    });
    el.append(box);
  }

  function setDelivery(clientId, state, detail) {
    const el = bubbles["client:" + clientId];
    if (!el) return;
    let line = el.querySelector(".state");
    if (!line) {
      line = document.createElement("span");
      line.className = "state";
      el.append(line);
    }
    el.classList.toggle("failed", state === "failed");
    el.classList.toggle("delivered", state === "delivered");
    line.textContent = state === "sending" ? "Sending…" : state === "failed" ? "Not sent: " + detail : "";
  }

  function fail(clientId, detail) {
    const text = unacked.get(clientId);
    unacked.delete(clientId);
    inFlight = inFlight.filter((id) => id !== clientId);
    setDelivery(clientId, "failed", detail);
    if (text && !textBox.value) textBox.value = text; // give it back to send again
  }

  function transmit(clientId) {
    socket.send(JSON.stringify({ type: "message", text: unacked.get(clientId), client_id: clientId }));
    inFlight.push(clientId);
  }

  function connect() {
    socket = new WebSocket(session.ws_url.replace(/^wss?:/, location.protocol === "https:" ? "wss:" : "ws:"));
    socket.onopen = () => {
      setStatus("");
      inFlight = [];
      unacked.forEach((_, clientId) => transmit(clientId));
    };
    socket.onclose = (e) => {
      if (e.code >= 4400 && e.code < 4500) {
        // The session itself was refused (expired or unknown): the next message starts a new one.
        session = null;
        socket = null;
        unacked.forEach((_, clientId) => fail(clientId, "this chat has ended; send it again to start a new one"));
        setStatus("This chat has ended. Send a message to start a new one.", true);
        return;
      }
      setStatus("Connection lost — reconnecting…", true);
      setTimeout(connect, 1500);
    };
    socket.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.type === "token") {
        const el = bubble(m.message_id, "ai");
        el.querySelector(".text").textContent += m.text;
        setStatus("Assistant is typing…");
      } else if (m.type === "message") {
        const el = bubble(m.message_id, m.role, m.text, m.role === "agent" && m.agent ? m.agent : undefined);
        showCitations(el, m.citations);
        setStatus("");
      } else if (m.type === "handoff") {
        setStatus(m.status === "accepted" ? `${m.agent || "An agent"} joined the conversation` : "Waiting for a member of our team…");
      } else if (m.type === "error") {
        if (m.code !== "turn_failed" && inFlight.length) fail(m.client_id || inFlight[0], m.detail);
        setStatus(m.detail, true);
      } else if (m.type === "ack") {
        unacked.delete(m.client_id);
        inFlight = inFlight.filter((id) => id !== m.client_id);
        setDelivery(m.client_id, "delivered");
      }
    };
  }

  // The session, started once (by "Start chatting" or by the first message) with the optional name and email.
  function ensureSession() {
    if (session) return Promise.resolve(session);
    if (!starting) {
      const data = Object.fromEntries(new FormData(startForm).entries());
      starting = fetch("/api/chat/sessions", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(data),
      })
        .then(async (response) => {
          const body = await response.json().catch(() => ({}));
          if (!response.ok) throw new Error(body.error ? body.error.detail : "could not start the chat");
          session = body;
          startPanel.hidden = true;
          connect();
          return session;
        }, () => { throw new Error("could not reach us; check your connection"); })
        .finally(() => { starting = null; });
    }
    return starting;
  }

  startForm.addEventListener("submit", (e) => {
    e.preventDefault();
    ensureSession().then(() => textBox.focus(), (err) => setStatus("Could not start the chat: " + err.message, true));
  });

  function send() {
    const text = textBox.value.trim();
    if (!text) return;
    const clientId = (crypto.randomUUID && crypto.randomUUID()) || String(Date.now() + Math.random());
    bubble("client:" + clientId, "customer", text);
    unacked.set(clientId, text);
    setDelivery(clientId, "sending");
    textBox.value = "";
    ensureSession().then(
      () => { if (socket && socket.readyState === WebSocket.OPEN) transmit(clientId); },
      (err) => {
        fail(clientId, err.message);
        setStatus("Could not start the chat: " + err.message, true);
      },
    );
  }
  composer.addEventListener("submit", (e) => { e.preventDefault(); send(); });
  textBox.addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); send(); } });
})();
