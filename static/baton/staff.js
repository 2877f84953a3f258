// Shared by the desk and the board: a self-reconnecting staff socket, local times, live durations.
window.Baton = (function () {
  function openSocket(path, onEvent, onOpen) {
    const indicator = document.getElementById("connection");
    let socket;
    function connect() {
      socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + path);
      socket.onopen = () => { if (indicator) indicator.hidden = true; if (onOpen) onOpen(socket); };
      socket.onmessage = (e) => onEvent(JSON.parse(e.data));
      socket.onclose = () => { if (indicator) indicator.hidden = false; setTimeout(connect, 1500); };
    }
    connect();
    return { send: (frame) => socket && socket.readyState === 1 && socket.send(JSON.stringify(frame)) };
  }

  function duration(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    if (seconds < 60) return seconds + "s";
    if (seconds < 3600) return Math.floor(seconds / 60) + "m " + (seconds % 60) + "s";
    return Math.floor(seconds / 3600) + "h " + Math.floor((seconds % 3600) / 60) + "m";
  }

  // Times are rendered in the viewer's own time zone.
  function localizeTimes(root) {
    (root || document).querySelectorAll("time[datetime]").forEach((t) => {
      if (t.dataset.localized) return;
      const d = new Date(t.getAttribute("datetime"));
      if (isNaN(d)) return;
      t.textContent = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      t.title = d.toLocaleString();
      t.dataset.localized = "1";
    });
  }

  const loadedAt = Date.now();
  function tick() {
    document.querySelectorAll("[data-since]").forEach((el) => {
      el.textContent = "waiting " + duration((Date.now() - new Date(el.dataset.since)) / 1000);
    });
    document.querySelectorAll(".duration[data-seconds]").forEach((el) => {
      if (!el.dataset.base) el.dataset.base = String(Date.now());
      el.textContent = duration(Number(el.dataset.seconds) + (Date.now() - Number(el.dataset.base)) / 1000);
    });
  }
  setInterval(tick, 1000);
  document.addEventListener("htmx:afterSwap", (e) => { localizeTimes(e.target); tick(); });
  // htmx drops 4xx answers; a staff form's problem that the server points at a slot (HX-Retarget) is shown.
  document.addEventListener("htmx:beforeSwap", (e) => {
    const xhr = e.detail.xhr;
    if (xhr.status >= 400 && xhr.status < 500 && xhr.getResponseHeader("HX-Retarget")) e.detail.shouldSwap = true;
  });
  document.addEventListener("DOMContentLoaded", () => { localizeTimes(); tick(); });

  const ROLE_NAMES = { customer: "Customer", ai: "AI", agent: "Agent", system: "System" };
  function undelivered(error) {
    const note = document.createElement("div");
    note.className = "undelivered";
    note.setAttribute("role", "alert");
    note.textContent = "Not delivered to the customer: " + error;
    return note;
  }
  function citationsOf(m) {
    const box = document.createElement("div");
    box.className = "citations";
    box.append("Sources: ");
    m.citations.forEach((c, i) => {
      if (i) box.append(" · ");
      const item = document.createElement(c.url ? "a" : "span");
      item.textContent = c.title || c.external_id;
      if (c.url) { item.href = c.url; item.target = "_blank"; item.rel = "noopener noreferrer"; }
      box.append(item);
    });
    return box;
  }
  function appendMessage(transcript, m) {
    if (!transcript) return;
    const known = transcript.querySelector(`[data-message="${m.message_id}"]`);
    if (known) {
      // Re-published (a voice reply cut short, or a delivery that failed): show what is true now.
      known.querySelector(".text").textContent = m.text;
      if (m.failed_delivery && !known.querySelector(".undelivered")) known.append(undelivered(m.failed_delivery));
      return;
    }
    const streaming = transcript.querySelector(`[data-streaming="${m.message_id}"]`);
    if (streaming) streaming.remove();
    const el = document.createElement("div");
    el.className = "msg " + m.role;
    el.dataset.message = m.message_id;
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = m.role === "agent" && m.sender ? m.sender : ROLE_NAMES[m.role] || m.role;
    const time = document.createElement("time");
    time.setAttribute("datetime", m.created_at);
    const text = document.createElement("div");
    text.className = "text";
    text.textContent = m.text;
    el.append(who, time, text);
    if (m.citations && m.citations.length) el.append(citationsOf(m));
    if (m.failed_delivery) el.append(undelivered(m.failed_delivery));
    transcript.append(el);
    localizeTimes(el);
    transcript.scrollTop = transcript.scrollHeight;
  }

  function appendToken(transcript, t) {
    if (!transcript || transcript.querySelector(`[data-message="${t.message_id}"]`)) return;
    let el = transcript.querySelector(`[data-streaming="${t.message_id}"]`);
    if (!el) {
      el = document.createElement("div");
      el.className = "msg ai streaming";
      el.dataset.streaming = t.message_id;
      el.innerHTML = '<span class="who">AI</span> <span class="muted">speaking…</span><div class="text"></div>';
      transcript.append(el);
    }
    el.querySelector(".text").textContent += t.text;
    transcript.scrollTop = transcript.scrollHeight;
  }

  return { openSocket, localizeTimes, appendMessage, appendToken, duration };
})();
