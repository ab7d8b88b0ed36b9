// Moorage portal: small enhancements; every page works without them.
"use strict";

document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const text = button.getAttribute("data-copy");
  try {
    await navigator.clipboard.writeText(text);
  } catch (err) {
    // Clipboard API unavailable (plain http): select the neighbouring field instead.
    const input = button.parentElement.querySelector("input");
    if (input) { input.select(); document.execCommand("copy"); }
  }
  const label = button.textContent;
  button.textContent = button.getAttribute("data-copied") || "✓";
  setTimeout(() => { button.textContent = label; }, 1500);
});

document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) event.preventDefault();
});

// Live fragments: an element with data-poll="URL" and data-poll-active is replaced by the
// HTML fragment at URL every 2 s until the fragment comes back without data-poll-active.
function poll(element) {
  const url = element.getAttribute("data-poll");
  const timer = setInterval(async () => {
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { "X-Fragment": "1" } });
      if (!response.ok) return;
      const holder = document.createElement("div");
      holder.innerHTML = await response.text();
      const fresh = holder.firstElementChild;
      if (!fresh) return;
      element.replaceWith(fresh);
      clearInterval(timer);
      if (fresh.hasAttribute("data-poll-active")) poll(fresh);
    } catch (err) { /* keep the last state; try again on the next tick */ }
  }, 2000);
}
document.querySelectorAll("[data-poll][data-poll-active]").forEach(poll);

// "Select all" boxes: hidden without JavaScript (they could do nothing there); each ticks
// every checkbox of its table whose name is its data-select-all.
document.querySelectorAll("input[data-select-all]").forEach((all) => {
  const name = all.getAttribute("data-select-all");
  const boxes = () => all.closest("table").querySelectorAll(`tbody input[type=checkbox][name="${name}"]`);
  all.hidden = false;
  all.addEventListener("change", () => { boxes().forEach((box) => { box.checked = all.checked; }); });
});
