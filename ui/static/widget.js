/* report-rag chat widget: <script src="http://HOST:PORT/widget.js" defer></script>
 * data-title, data-position (bottom-right | bottom-left), data-color, data-open (true | false), data-report (doc id).
 * Everything lives in a shadow root: the page's styles do not reach it and its styles do not leak out.
 * Keyboard: the launcher, then the panel's close button, then the chat, in Tab order; opening moves focus to
 * the question box, and Escape (in the panel or the chat) or the close button closes it, focus back on the launcher. */
(() => {
  const script = document.currentScript;
  if (!script || !script.src) return;
  const server = new URL(script.src, window.location.href).origin;
  const data = script.dataset;
  const title = (data.title || "Ask the report").slice(0, 80);
  const side = data.position === "bottom-left" ? "left" : "right";
  const wanted = data.color || data.colour || "";
  const colour = wanted && window.CSS && CSS.supports("color", wanted) ? wanted : "#1f5f8b";
  const ink = inkOn(colour);
  const startOpen = data.open === "true";
  const chatUrl = new URL("/", server);
  chatUrl.searchParams.set("embed", "1");
  if (data.report) chatUrl.searchParams.set("report", data.report);

  const host = document.createElement("report-rag-widget");
  const root = host.attachShadow({ mode: "open" });
  const style = document.createElement("style");
  style.textContent = `
    :host { all: initial !important; display: block !important; }
    * { box-sizing: border-box; }
    .launcher {
      position: fixed; bottom: 20px; ${side}: 20px; z-index: 2147483000;
      width: 56px; height: 56px; border-radius: 50%; border: none; cursor: pointer;
      background: var(--rr-colour); color: var(--rr-ink); box-shadow: 0 4px 14px rgba(0,0,0,.25);
      display: flex; align-items: center; justify-content: center; padding: 0; margin: 0;
    }
    /* Yellow on a dark ring: visible on any page colour and on the bar's. */
    .launcher:focus-visible, .close:focus-visible { outline: 3px solid #ffbf47; outline-offset: 2px; box-shadow: 0 0 0 2px #0b0c0c; }
    .launcher svg { width: 26px; height: 26px; fill: currentColor; }
    .panel {
      position: fixed; bottom: 88px; ${side}: 20px; z-index: 2147483000;
      width: min(420px, calc(100vw - 24px)); height: min(640px, calc(100vh - 110px));
      display: flex; flex-direction: column; background: #fff; border-radius: 12px; overflow: hidden;
      box-shadow: 0 10px 40px rgba(0,0,0,.28); font: 15px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif;
    }
    .panel[hidden] { display: none; }
    .bar {
      display: flex; align-items: center; justify-content: space-between; gap: 8px;
      padding: 10px 14px; background: var(--rr-colour); color: var(--rr-ink); font-weight: 600;
    }
    .close { background: transparent; border: none; color: inherit; font-size: 22px; line-height: 1; cursor: pointer; padding: 0 4px; }
    iframe { flex: 1; width: 100%; border: 0; background: #fff; }
    @media (max-width: 480px) {
      .panel { ${side}: 12px; bottom: 80px; width: calc(100vw - 24px); height: calc(100vh - 100px); }
    }
  `;
  const launcher = document.createElement("button");
  launcher.className = "launcher";
  launcher.type = "button";
  launcher.setAttribute("aria-label", title);
  launcher.setAttribute("aria-expanded", "false");
  launcher.innerHTML =
    '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm3 6v2h2V9H7zm4 0v2h2V9h-2zm4 0v2h2V9h-2z"/></svg>';
  const panel = document.createElement("div");
  panel.className = "panel";
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", title);
  panel.hidden = true;
  const bar = document.createElement("div");
  bar.className = "bar";
  const heading = document.createElement("span");
  heading.textContent = title;
  const close = document.createElement("button");
  close.className = "close";
  close.type = "button";
  close.setAttribute("aria-label", "Close");
  close.textContent = "×";
  bar.append(heading, close);
  panel.append(bar);
  host.style.setProperty("--rr-colour", colour);
  host.style.setProperty("--rr-ink", ink);
  // The launcher comes first so that Tab goes from it into the panel it opens.
  root.append(style, launcher, panel);

  let frame = null;
  // Focusing the frame lets the chat put the caret in its question box (see chat.js): a page cannot
  // reach into a frame from another origin, and browsers ignore autofocus there.
  const focusChat = () => {
    if (frame.dataset.loaded) frame.focus();
    // Unless the visitor has gone elsewhere on the page while the chat loaded.
    else frame.addEventListener("load", () => document.activeElement === host && frame.focus(), { once: true });
  };
  const setOpen = (open, moveFocus = false) => {
    if (open && !frame) {
      frame = document.createElement("iframe");
      frame.title = title;
      frame.src = chatUrl.href;
      frame.allow = "clipboard-write";
      frame.addEventListener("load", () => (frame.dataset.loaded = "1"), { once: true });
      panel.append(frame);
    }
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", String(open));
    if (moveFocus) open ? focusChat() : launcher.focus();
  };
  launcher.addEventListener("click", () => setOpen(panel.hidden, true));
  close.addEventListener("click", () => setOpen(false, true));
  root.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !panel.hidden) setOpen(false, true);
  });
  // Keys pressed inside the chat never reach this page: the chat asks to be closed instead.
  window.addEventListener("message", (event) => {
    const fromChat = frame && event.source === frame.contentWindow && event.origin === server;
    if (fromChat && event.data && event.data.type === "report-rag:close" && !panel.hidden) setOpen(false, true);
  });

  const mount = () => {
    document.body.appendChild(host);
    if (startOpen) setOpen(true);
  };
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);

  // The title and icon sit on the site's colour: white or near-black, whichever has the higher contrast
  // (WCAG's formula), so that data-color="gold" stays readable. Colours it cannot read get white.
  function inkOn(cssColour) {
    const canvas = document.createElement("canvas").getContext("2d");
    canvas.fillStyle = cssColour; // the browser normalises it to #rrggbb or rgba(r, g, b, a)
    const hex = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(canvas.fillStyle);
    const rgba = /^rgba?\((\d+), (\d+), (\d+)/.exec(canvas.fillStyle);
    const parts = hex ? hex.slice(1).map((h) => parseInt(h, 16)) : rgba ? rgba.slice(1).map(Number) : null;
    if (!parts) return "#fff";
    const linear = parts.map((c) => (c / 255 <= 0.03928 ? c / 255 / 12.92 : ((c / 255 + 0.055) / 1.055) ** 2.4));
    const luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2];
    const dark = 0.0056; // #111
    return 1.05 / (luminance + 0.05) >= (luminance + 0.05) / (dark + 0.05) ? "#fff" : "#111";
  }
})();
