// Progressive enhancement of the mcphub dashboard. Every page works without
// this script; with it: live updates over server-sent events, a tool call's
// progress as it runs, and copy buttons. It never builds markup from strings
// it did not get from the dashboard's own templates: activity rows are made
// with textContent, and fragments come from the server, autoescaped.
"use strict";

(() => {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";

  function announce(text) {
    const announcer = document.getElementById("announcer");
    if (announcer) announcer.textContent = text;
  }

  function parsed(html) {
    return new DOMParser().parseFromString(html, "text/html").body.childNodes;
  }

  // Live updates: the overview fetches its fragment again when servers
  // change; the activity page adds rows as they happen.
  const live = document.querySelector("[data-live]");
  const rows = document.getElementById("activity-rows");
  if ((live || rows) && "EventSource" in window) {
    const source = new EventSource(rows ? rows.dataset.stream : "/ui/events");
    let refreshing = null;
    source.addEventListener("hello", () => {
      // What changed between the page's rendering and now was never streamed.
      if (live) refresh(live);
      document.body.dataset.events = "connected";
    });
    source.addEventListener("servers", () => {
      if (!live) return;
      clearTimeout(refreshing);
      refreshing = setTimeout(() => refresh(live), 200);
    });
    source.addEventListener("activity", (message) => {
      if (rows) addActivity(rows, JSON.parse(message.data));
    });
    window.addEventListener("pagehide", () => source.close());
  }

  async function refresh(region) {
    if (!region.dataset.fragment) return;
    const response = await fetch(region.dataset.fragment, {
      headers: { Accept: "text/html" },
      credentials: "same-origin",
    });
    if (!response.ok) return;
    region.replaceChildren(...parsed(await response.text()));
    region.dataset.updated = String(Date.now());
    announce("The list of servers was updated.");
  }

  const ACTIVITY_COLUMNS = ["at", "principal", "kind", "what", "servers", "outcome", "policy", "detail", "seconds"];
  const ACTIVITY_KEPT = 500;

  function addActivity(body, event) {
    const row = document.createElement("tr");
    row.dataset.event = String(event.id);
    for (const column of ACTIVITY_COLUMNS) {
      const cell = document.createElement("td");
      if (column === "what") {
        cell.textContent = event.action + " ";
        if (event.item) {
          const code = document.createElement("code");
          code.textContent = event.item;
          cell.append(code);
        }
      } else if (column === "outcome") {
        const tag = document.createElement("span");
        tag.className = "outcome outcome-" + event.outcome.replace(/ /g, "-");
        tag.textContent = event.outcome;
        cell.append(tag);
      } else {
        cell.textContent = event[column] ?? "";
      }
      if (column === "seconds") cell.className = "num";
      row.append(cell);
    }
    body.prepend(row);
    while (body.rows.length > ACTIVITY_KEPT) body.deleteRow(-1);
    document.getElementById("activity-empty")?.remove();
  }

  // Trying a tool: the call's progress while it runs, then its result.
  const tryForm = document.querySelector("form[data-try]");
  tryForm?.addEventListener("submit", async (submitted) => {
    submitted.preventDefault();
    const progress = tryForm.querySelector(".progress");
    const bar = progress.querySelector("progress");
    const note = progress.querySelector(".progress-message");
    const result = document.getElementById("result");
    const button = tryForm.querySelector('button[type="submit"]');
    button.disabled = true;
    progress.hidden = false;
    bar.removeAttribute("value");
    note.textContent = "Calling…";
    result.replaceChildren();
    result.setAttribute("aria-busy", "true");
    try {
      const response = await fetch(tryForm.action, {
        method: "POST",
        body: new FormData(tryForm),
        headers: { Accept: "application/x-ndjson", "X-CSRF-Token": csrf },
        credentials: "same-origin",
      });
      if (!response.ok && !(response.headers.get("Content-Type") ?? "").includes("ndjson")) {
        const answer = await response.json().catch(() => ({ error: response.statusText }));
        showProblem(result, answer.error ?? "The call could not be made.");
        return;
      }
      await readLines(response, (line) => {
        if (line.html !== undefined) {
          result.replaceChildren(...parsed(line.html));
        } else if (line.progress !== undefined) {
          if (line.total) bar.max = line.total;
          if (line.progress !== null) bar.value = line.progress;
          note.textContent = line.message || `${line.progress}${line.total ? " of " + line.total : ""}`;
        }
      });
      note.textContent = "Done.";
      announce("The tool answered.");
    } catch (failure) {
      showProblem(result, "The call failed: " + failure);
    } finally {
      button.disabled = false;
      result.removeAttribute("aria-busy");
    }
  });

  function showProblem(where, text) {
    const problem = document.createElement("p");
    problem.className = "problem";
    problem.setAttribute("role", "alert");
    problem.textContent = text;
    where.replaceChildren(problem);
  }

  async function readLines(response, each) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffered = "";
    for (;;) {
      const { value, done } = await reader.read();
      buffered += decoder.decode(value ?? new Uint8Array(), { stream: !done });
      let end;
      while ((end = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, end).trim();
        buffered = buffered.slice(end + 1);
        if (line) each(JSON.parse(line));
      }
      if (done) return;
    }
  }

  // Copy buttons: the text of the element they name.
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", async () => {
      const text = document.getElementById(button.dataset.copy)?.textContent ?? "";
      try {
        await navigator.clipboard.writeText(text);
        announce("Copied.");
        button.textContent = "Copied";
      } catch {
        announce("Copying is not allowed here; select the text instead.");
      }
    });
  }
})();
