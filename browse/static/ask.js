// Submit the query, then poll the job: clips extracted so far, then the answer's page.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("ask");
  const status = document.getElementById("status");
  const progress = document.getElementById("progress");
  const poll = async (id) => {
    const job = await (await fetch(`/ask/jobs/${id}`)).json();
    if (job.state === "done") {
      window.location = job.url;
      return;
    }
    if (job.state === "failed") {
      status.textContent = job.error;
      progress.hidden = true;
      return;
    }
    status.textContent = job.state === "extracting"
      ? `extracting features: clip ${job.clips_done} of ${job.clips}` : `${job.state}...`;
    progress.hidden = false;
    progress.max = job.clips || 1;
    progress.value = job.clips_done;
    setTimeout(() => poll(id), 500);
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = JSON.stringify(Object.fromEntries(new FormData(form)));
    const headers = { "Content-Type": "application/json" };
    const response = await fetch("/ask/jobs", { method: "POST", headers, body });
    const job = await response.json();
    if (!response.ok) {
      status.textContent = job.error;
      return;
    }
    poll(job.id);
  });
});
