// Customer chat: open a session, then speak the /ws/chat/ protocol (ack, token, message, handoff, error).
(function () {
  const log = document.getElementById("log");
  const statusLine = document.getElementById("status");
  const composer = document.getElementById("composer");
  const textBox = document.getElementById("text");
  const bubbles = {};
  const names = { customer: "You", ai: "Assistant", agent: "Agent", system: "" };
  let socket = null;
  let session = null;
  // Messages not yet acknowledged; resent after a reconnect (the server dedupes by client_id).
  const unacked = new Map();

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

  function connect() {
    socket = new WebSocket(session.ws_url.replace(/^ws:/, location.protocol === "https:" ? "wss:" : "ws:"));
    socket.onopen = () => {
      setStatus("");
      unacked.forEach((text, clientId) => socket.send(JSON.stringify({ type: "message", text: text, client_id: clientId })));
    };
    socket.onclose = () => { setStatus("Connection lost — reconnecting…", true); setTimeout(connect, 1500); };
    socket.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.type === "token") {
        const el = bubble(m.message_id, "ai");
        el.querySelector(".text").textContent += m.text;
        setStatus("Assistant is typing…");
      } else if (m.type === "message") {
        bubble(m.message_id, m.role, m.text, m.role === "agent" && m.agent ? m.agent : undefined);
        setStatus("");
      } else if (m.type === "handoff") {
        setStatus(m.status === "accepted" ? `${m.agent || "An agent"} joined the conversation` : "Waiting for a member of our team…");
      } else if (m.type === "error") {
        setStatus(m.detail, true);
      } else if (m.type === "ack") {
        unacked.delete(m.client_id);
        const el = bubbles["client:" + m.client_id];
        if (el) el.classList.add("delivered");
      }
    };
  }

  document.getElementById("start-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = Object.fromEntries(new FormData(e.target).entries());
    const response = await fetch("/api/chat/sessions", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(data),
    });
    const body = await response.json();
    if (!response.ok) { setStatus(body.error ? body.error.detail : "Could not start the chat", true); return; }
    session = body;
    document.getElementById("start").hidden = true;
    log.hidden = false;
    composer.hidden = false;
    textBox.focus();
    connect();
  });

  function send() {
    const text = textBox.value.trim();
    if (!text) return;
    const clientId = (crypto.randomUUID && crypto.randomUUID()) || String(Date.now() + Math.random());
    bubble("client:" + clientId, "customer", text);
    unacked.set(clientId, text);
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: "message", text: text, client_id: clientId }));
    }
    textBox.value = "";
  }
  composer.addEventListener("submit", (e) => { e.preventDefault(); send(); });
  textBox.addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); send(); } });
})();
