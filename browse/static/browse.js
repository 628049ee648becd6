// Clicking anything with data-seek moves the player there; with data-end it plays to the end.
// The metrics button shows or hides the metrics' blocks beyond the brief one.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const more = document.getElementById("all-metrics");
  if (more) {
    more.addEventListener("click", () => {
      for (const block of document.querySelectorAll("tbody.more")) block.hidden = !block.hidden;
    });
  }
  const player = document.getElementById("player");
  if (!player) return;
  let stopAt = null;
  document.addEventListener("click", (event) => {
    const target = event.target.closest("[data-seek]");
    if (!target) return;
    event.preventDefault();
    player.currentTime = parseFloat(target.dataset.seek);
    stopAt = target.dataset.end ? parseFloat(target.dataset.end) : null;
    if (stopAt !== null) player.play().catch(() => {});
  });
  player.addEventListener("timeupdate", () => {
    if (stopAt !== null && player.currentTime >= stopAt) {
      player.pause();
      stopAt = null;
    }
    const x = player.duration ? (1000 * player.currentTime) / player.duration : 0;
    for (const line of document.querySelectorAll(".playhead")) {
      line.setAttribute("x1", x);
      line.setAttribute("x2", x);
    }
  });
});
