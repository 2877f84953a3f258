// The agent desk: live inbox, the open conversation's transcript, copilot drafts, keyboard-first reply.
(function () {
  const desk = document.querySelector(".desk");
  const workspace = document.getElementById("workspace");
  let inboxTimer = null;

  function refreshInbox() {
    clearTimeout(inboxTimer);
    inboxTimer = setTimeout(() => htmx.trigger(document.body, "refresh-inbox"), 150);
  }
  function current() { return workspace.querySelector(".conversation"); }

  function showDraft(d) {
    const conv = current();
    const box = document.getElementById("draft");
    if (!conv || !box || conv.dataset.conversation !== d.conversation_id) return;
    box.dataset.draft = d.draft_id;
    box.querySelector(".draft-text").textContent = d.text || "(no text — see the suggested actions)";
    const actions = box.querySelector(".draft-actions");
    actions.textContent = "";
    (d.suggested_actions || []).forEach((a) => {
      const chip = document.createElement("span");
      chip.className = "chip";
      chip.textContent = "suggests " + a.name;
      actions.append(chip);
    });
    box.hidden = false;
  }

  const socket = Baton.openSocket("/ws/desk/", (e) => {
    const conv = current();
    const mine = conv && e.conversation_id === conv.dataset.conversation;
    if (e.event === "conversation.handoff_changed" || e.event === "conversation.changed") refreshInbox();
    if (e.event === "conversation.message_created" && mine) Baton.appendMessage(document.getElementById("transcript"), e);
    if (e.event === "conversation.token" && conv) Baton.appendToken(document.getElementById("transcript"), e);
    if (e.event === "conversation.copilot_draft" && e.status === "pending") showDraft(e);
    if (e.event === "handoff.packet_ready" && mine && e.packet && e.packet.summary && e.packet.summary.text) {
      const summary = conv.querySelector('[data-testid="summary"]');
      if (summary) summary.textContent = e.packet.summary.text;
    }
  }, () => {
    // (Re)connected: events may have been missed meanwhile, so resync the inbox and the watch.
    refreshInbox();
    const conv = current();
    if (conv) socket.send({ type: "watch", conversation_id: conv.dataset.conversation });
  });

  // Whenever a conversation opens in the workspace, watch its live transcript.
  document.addEventListener("htmx:afterSwap", (e) => {
    if (e.target !== workspace) return;
    const conv = current();
    if (conv) {
      socket.send({ type: "watch", conversation_id: conv.dataset.conversation });
      const t = document.getElementById("transcript");
      if (t) t.scrollTop = t.scrollHeight;
      const box = document.getElementById("reply-text");
      if (box) box.focus();
    }
    refreshInbox();
  });

  workspace.addEventListener("keydown", (e) => {
    if (e.target.id === "reply-text" && e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      if (e.target.value.trim()) htmx.trigger(document.getElementById("reply-form"), "submit");
    }
  });
  // After a reply is sent: clear the box; the message itself arrives over the socket.
  document.addEventListener("htmx:afterRequest", (e) => {
    const form = e.detail.elt;
    if (form.id !== "reply-form") return;
    const problem = document.getElementById("reply-problem");
    if (e.detail.successful) {
      form.reset();
      form.querySelector("[name=draft_id]").value = "";
      const box = document.getElementById("draft");
      if (box) box.hidden = true;
      problem.textContent = "";
    } else {
      problem.innerHTML = e.detail.xhr.responseText;
    }
  });
  workspace.addEventListener("click", (e) => {
    const box = document.getElementById("draft");
    if (!box) return;
    if (e.target.classList.contains("use-draft")) {
      const reply = document.getElementById("reply-text");
      reply.value = box.querySelector(".draft-text").textContent;
      document.querySelector("#reply-form [name=draft_id]").value = box.dataset.draft;
      reply.focus();
    }
    if (e.target.classList.contains("ignore-draft")) {
      htmx.ajax("POST", `/desk/drafts/${box.dataset.draft}/ignore`, { swap: "none" });
      box.hidden = true;
    }
  });

  const open = desk.dataset.openConversation;
  if (open) htmx.ajax("GET", `/desk/conversations/${open}`, { target: "#workspace", swap: "innerHTML" });
})();
