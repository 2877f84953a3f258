// The supervisor board: every live conversation, re-rendered on any event (debounced), plus alerts.
(function () {
  let timer = null;
  function refresh() {
    clearTimeout(timer);
    timer = setTimeout(() => htmx.trigger(document.body, "refresh-board"), 200);
  }
  Baton.openSocket("/ws/supervisor/", (e) => {
    if (e.event === "insights.alert_changed") {
      const alerts = document.getElementById("alerts");
      const el = document.createElement("div");
      el.className = "notice " + (e.state === "firing" ? "problem" : "ok");
      el.textContent = e.message || `${e.name}: ${e.state}`;
      alerts.prepend(el);
      return;
    }
    if (e.event !== "conversation.token") refresh();
  }, refresh);  // on (re)connect too: events may have been missed meanwhile
})();
