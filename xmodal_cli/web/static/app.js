// xmodal serve: players start where the words were heard (or the frame seen); keys move
// through the results.
"use strict";

function startAt(player) {
  const start = Number(player.dataset.start || 0);
  // The #t= fragment in its address already asks for this; some players ignore it.
  if (start > 0 && player.currentTime < start - 0.5) player.currentTime = start;
}

document.querySelectorAll("audio[data-start], video[data-start]").forEach((audio) => {
  audio.addEventListener("loadedmetadata", () => startAt(audio), { once: true });
  audio.addEventListener("play", () => { if (!audio.dataset.started) { audio.dataset.started = "1"; startAt(audio); } });
});

const cards = Array.from(document.querySelectorAll(".card"));
let current = -1;

function select(index) {
  if (!cards.length) return;
  current = Math.max(0, Math.min(cards.length - 1, index));
  cards.forEach((card, i) => card.classList.toggle("current", i === current));
  const card = cards[current];
  card.scrollIntoView({ block: "nearest" });
  const link = card.querySelector("a.open");
  if (link) link.focus({ preventScroll: true });
}

document.addEventListener("keydown", (event) => {
  const typing = /^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement.tagName);
  if (event.key === "Escape" && typing) { document.activeElement.blur(); return; }
  if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
  const box = document.querySelector("form.search > input");
  if (event.key === "/" && box) { event.preventDefault(); box.focus(); box.select(); }
  else if (event.key === "j") select(current + 1);
  else if (event.key === "k") select(current - 1);
  else if (event.key === "m" && current >= 0) {
    const more = cards[current].querySelector("a.more");
    if (more) more.click();
  } else if (event.key === " " && current >= 0) {
    const audio = cards[current].querySelector("audio, video");
    if (audio) { event.preventDefault(); audio.paused ? audio.play() : audio.pause(); }
  }
});
