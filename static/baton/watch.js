// Watching one conversation live (chat, SMS or a voice call turn by turn).
(function () {
  const root = document.querySelector(".watch");
  const transcript = document.getElementById("transcript");
  const id = root.dataset.conversation;
  const socket = Baton.openSocket("/ws/supervisor/", (e) => {
    if (e.conversation_id && e.conversation_id !== id) return;
    if (e.event === "conversation.message_created") Baton.appendMessage(transcript, e);
    if (e.event === "conversation.token") Baton.appendToken(transcript, e);
    if (e.event === "conversation.changed") {
      const badge = root.querySelector('[data-testid="handler"]');
      if (badge) badge.textContent = e.handler === "ai" ? "AI" : "Human";
    }
  }, () => socket.send({ type: "watch", conversation_id: id }));
  transcript.scrollTop = transcript.scrollHeight;
})();
