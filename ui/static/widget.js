/* report-rag chat widget: <script src="http://HOST:PORT/widget.js" defer></script>
 * data-title, data-position (bottom-right | bottom-left), data-color, data-open (true | false), data-report (doc id).
 * Everything lives in a shadow root: the page's styles do not reach it and its styles do not leak out. */
(() => {
  const script = document.currentScript;
  if (!script || !script.src) return;
  const server = new URL(script.src, window.location.href).origin;
  const data = script.dataset;
  const title = (data.title || "Ask the report").slice(0, 80);
  const side = data.position === "bottom-left" ? "left" : "right";
  const wanted = data.color || data.colour || "";
  const colour = wanted && window.CSS && CSS.supports("color", wanted) ? wanted : "#1f5f8b";
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
      background: var(--rr-colour); color: #fff; box-shadow: 0 4px 14px rgba(0,0,0,.25);
      display: flex; align-items: center; justify-content: center; padding: 0; margin: 0;
    }
    .launcher:focus-visible, .close:focus-visible { outline: 3px solid #ffbf47; outline-offset: 2px; }
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
      padding: 10px 14px; background: var(--rr-colour); color: #fff; font-weight: 600;
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
  root.append(style, panel, launcher);

  let frame = null;
  const setOpen = (open) => {
    if (open && !frame) {
      frame = document.createElement("iframe");
      frame.title = title;
      frame.src = chatUrl.href;
      frame.allow = "clipboard-write";
      panel.append(frame);
    }
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", String(open));
  };
  launcher.addEventListener("click", () => setOpen(panel.hidden));
  close.addEventListener("click", () => setOpen(false));

  const mount = () => {
    document.body.appendChild(host);
    if (startOpen) setOpen(true);
  };
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
