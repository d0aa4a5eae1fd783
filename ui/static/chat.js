() => {
  if (window.__reportRagCitations) return;
  window.__reportRagCitations = true;
  // Inside the widget's panel the panel's own bar names the chat, so the page header is dropped.
  if (new URLSearchParams(window.location.search).get("embed") === "1") {
    document.documentElement.classList.add("rr-embedded");
    embedKeyboard();
  }
  // Gradio marks the example questions up as a list holding buttons, not list items (axe:
  // aria-required-children); a labelled group is what they are. Svelte redraws them after "Clear chat".
  const relabelExamples = () =>
    document.querySelectorAll('#rr-chat .examples[role="list"]').forEach((examples) => {
      examples.setAttribute("role", "group");
      examples.setAttribute("aria-label", "Example questions");
    });
  // Gradio names its file drop zone "Click to upload or drop files" while it shows "Drop File Here - or -
  // Click to Upload" (axe: label-content-name-mismatch); the name becomes the field's label plus what it shows.
  const relabelUpload = () =>
    document.querySelectorAll("#rr-upload .upload-container[aria-label]").forEach((zone) => {
      const shown = (zone.innerText || "").replace(/\s+/g, " ").trim();
      const label = document.querySelector("#rr-upload [data-testid='block-label']");
      const name = `${label ? label.innerText.trim() + ": " : ""}${shown}`;
      if (shown && zone.getAttribute("aria-label") !== name) zone.setAttribute("aria-label", name);
    });
  const relabel = () => {
    relabelExamples();
    relabelUpload();
  };
  relabel();
  new MutationObserver(relabel).observe(document.body, { childList: true, subtree: true });
  // A click on an answer's [n] shows that answer's sources and highlights card n.
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

  // In the widget's frame: when the widget focuses the frame, the caret goes to the question box, and
  // Escape asks the widget to close (keys pressed here never reach the page around the frame).
  function embedKeyboard() {
    const toQuestion = () => {
      const box = document.querySelector("#rr-question textarea");
      if (box && document.activeElement === document.body) box.focus();
    };
    window.addEventListener("focus", toQuestion);
    if (document.hasFocus()) toQuestion();
    document.addEventListener("keydown", (event) => {
      const inPopup = event.target.closest && event.target.closest('[aria-expanded="true"], [role="listbox"]');
      if (event.key !== "Escape" || event.defaultPrevented || inPopup || window.parent === window) return;
      window.parent.postMessage({ type: "report-rag:close" }, "*");
    });
  }
}
