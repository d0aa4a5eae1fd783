() => {
  // A click on an answer's [n] shows that answer's sources and highlights card n.
  if (window.__reportRagCitations) return;
  window.__reportRagCitations = true;
  // Inside the widget's panel the panel's own bar names the chat, so the page header is dropped.
  if (new URLSearchParams(window.location.search).get("embed") === "1") {
    document.documentElement.classList.add("rr-embedded");
  }
  document.addEventListener(
    "click",
    (event) => {
      const link = event
        .composedPath()
        .find((el) => el instanceof HTMLAnchorElement && (el.getAttribute("href") || "").startsWith("#rr-src-"));
      if (!link) return;
      event.preventDefault();
      event.stopPropagation();
      const id = link.getAttribute("href").slice(1);
      const turn = id.split("-")[2];
      const root = link.getRootNode();
      const scope = root.querySelectorAll ? root : document;
      scope.querySelectorAll(".rr-turn").forEach((section) => {
        section.hidden = section.dataset.turn !== turn;
      });
      scope.querySelectorAll(".rr-card.rr-active").forEach((card) => card.classList.remove("rr-active"));
      const card = scope.querySelector("#" + CSS.escape(id));
      if (card) {
        card.classList.add("rr-active");
        card.scrollIntoView({ behavior: "smooth", block: "center" });
      }
    },
    true,
  );
}
