// Replication policy form: show the fields that apply to the chosen mode and trigger
// (the cron only for a scheduled trigger, the label filter only when pushing).  Without
// JavaScript every field shows and the server says which do not apply.
"use strict";

(() => {
  const trigger = document.getElementById("f-trigger");
  const mode = document.getElementById("f-mode");
  const cron = document.getElementById("f-cron");
  const labels = document.getElementById("f-filter_label");
  if (!trigger || !mode || !cron || !labels) return;
  const cronField = cron.closest(".field");
  const labelRow = labels.closest(".repl-filter");
  const show = (element, visible) => {
    element.hidden = !visible;
    element.querySelectorAll("input, select").forEach((control) => { control.disabled = !visible; });
  };
  const sync = () => {
    show(cronField, trigger.value === "scheduled");
    show(labelRow, mode.value === "push");
  };
  trigger.addEventListener("change", sync);
  mode.addEventListener("change", sync);
  sync();
})();
