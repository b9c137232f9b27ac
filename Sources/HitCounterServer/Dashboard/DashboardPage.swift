import Hummingbird

/// `GET /`: the live view, one self-contained page (no CDN, nothing fetched but the service's own
/// API, so it works on an air-gapped cluster). See docs/live-view.md.
///
/// The page holds no data: it reads `/top`, `/series` and `/stream` with `fetch`, sending the read
/// token (when the service asks for one) in an `Authorization` header kept in the tab's
/// `sessionStorage`, never in a URL that access logs would keep. The stream is read with `fetch` too,
/// since `EventSource` cannot send a header.
struct DashboardPage: Sendable {
    @Sendable func page(request: Request, context: BasicRequestContext) -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: "text/html; charset=utf-8", .cacheControl: "no-cache",
                // Only the page's own inline script and style, and requests to this service.
                .init("Content-Security-Policy")!: "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
                .init("X-Content-Type-Options")!: "nosniff", .init("Referrer-Policy")!: "no-referrer",
            ],
            body: .init(byteBuffer: ByteBuffer(string: Self.html))
        )
    }

    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>HitCounter</title>
        <link rel="icon" href="data:,">
        <style>
          :root { --bg: #0f1419; --panel: #171e26; --line: #2a3440; --text: #e6edf3; --dim: #8b98a5; --accent: #4cc2ff; --accent2: #7ee787; --warn: #ffa657; }
          * { box-sizing: border-box; }
          body { margin: 0; background: var(--bg); color: var(--text); font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
          header { display: flex; flex-wrap: wrap; gap: 12px; align-items: center; justify-content: space-between; padding: 14px 20px; border-bottom: 1px solid var(--line); }
          h1 { font-size: 18px; margin: 0; letter-spacing: .02em; }
          h1 span { color: var(--accent); }
          h2 { font-size: 13px; font-weight: 600; color: var(--dim); text-transform: uppercase; letter-spacing: .06em; margin: 0 0 10px; }
          main { display: grid; grid-template-columns: 300px 1fr; gap: 16px; padding: 16px 20px; max-width: 1400px; margin: 0 auto; }
          section { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; min-width: 0; }
          .stack { display: grid; gap: 16px; min-width: 0; align-content: start; }
          form { display: flex; gap: 8px; }
          input { flex: 1; min-width: 0; background: var(--bg); color: var(--text); border: 1px solid var(--line); border-radius: 6px; padding: 7px 10px; font: inherit; }
          button { background: var(--accent); color: #001018; border: 0; border-radius: 6px; padding: 7px 14px; font: inherit; font-weight: 600; cursor: pointer; }
          button:focus-visible, input:focus-visible, .key:focus-visible { outline: 2px solid var(--accent2); outline-offset: 2px; }
          ol { list-style: none; margin: 0; padding: 0; }
          .key { display: flex; justify-content: space-between; gap: 10px; width: 100%; background: none; color: var(--text); text-align: left; padding: 6px 8px; border-radius: 6px; font-weight: 400; }
          .key:hover, .key[aria-current="true"] { background: #1f2a36; }
          .key .name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
          .key .bar { height: 3px; background: var(--accent); border-radius: 2px; margin-top: 3px; }
          .key .count { color: var(--accent2); font-variant-numeric: tabular-nums; }
          .totals { display: grid; grid-template-columns: repeat(4, 1fr); gap: 12px; }
          .total { background: var(--bg); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
          .total b { display: block; font-size: 26px; font-variant-numeric: tabular-nums; }
          .total small { color: var(--dim); }
          svg { width: 100%; height: auto; display: block; }
          .axis { fill: var(--dim); font-size: 11px; }
          .grid { stroke: var(--line); stroke-width: 1; }
          .status { color: var(--dim); font-size: 13px; }
          .status.bad { color: var(--warn); }
          #token-panel[hidden] { display: none; }
          .empty { color: var(--dim); }
          @media (max-width: 760px) {
            main { grid-template-columns: 1fr; padding: 12px; }
            .totals { grid-template-columns: repeat(2, 1fr); }
          }
        </style>
        </head>
        <body>
        <header>
          <h1>Hit<span>Counter</span> live</h1>
          <span id="status" class="status" role="status" aria-live="polite">connecting…</span>
        </header>
        <main>
          <div class="stack">
            <section id="token-panel" hidden aria-labelledby="token-title">
              <h2 id="token-title">Read token</h2>
              <form id="token-form">
                <label for="token" hidden>Read token</label>
                <input id="token" type="password" autocomplete="off" placeholder="this service needs its read token">
                <button type="submit">Use</button>
              </form>
            </section>
            <section aria-labelledby="key-title">
              <h2 id="key-title">Counter</h2>
              <form id="key-form">
                <label for="key" hidden>Counter key</label>
                <input id="key" name="key" autocomplete="off" placeholder="key, e.g. home">
                <button type="submit">Show</button>
              </form>
            </section>
            <section aria-labelledby="top-title">
              <h2 id="top-title">Top keys, last hour</h2>
              <ol id="top"><li class="empty">no hits in the last hour</li></ol>
            </section>
          </div>
          <div class="stack">
            <section aria-labelledby="totals-title">
              <h2 id="totals-title">Hits on <span id="current-key">default</span></h2>
              <div class="totals">
                <div class="total"><b id="total-second">–</b><small>last full second</small></div>
                <div class="total"><b id="total-minute">–</b><small>last minute</small></div>
                <div class="total"><b id="total-hour">–</b><small>last hour</small></div>
                <div class="total"><b id="total-day">–</b><small>last 24 hours</small></div>
              </div>
            </section>
            <section aria-labelledby="live-title">
              <h2 id="live-title">Per second, last 5 minutes (live)</h2>
              <svg id="live-chart" viewBox="0 0 900 150" role="img" aria-label="hits per second over the last 5 minutes"></svg>
            </section>
            <section aria-labelledby="day-title">
              <h2 id="day-title">Per minute, last 24 hours</h2>
              <svg id="day-chart" viewBox="0 0 900 150" role="img" aria-label="hits per minute over the last 24 hours"></svg>
            </section>
          </div>
        </main>
        <script>
        "use strict";
        const $ = (id) => document.getElementById(id);
        const format = new Intl.NumberFormat();
        const state = { key: new URLSearchParams(location.hash.slice(1)).get("key") || "default", live: new Map(), now: 0, stream: null, day: null };

        function headers() {
          const token = sessionStorage.getItem("hitcounter-read-token");
          return token ? { Authorization: "Bearer " + token } : {};
        }

        function status(text, bad) {
          $("status").textContent = text;
          $("status").className = bad ? "status bad" : "status";
        }

        async function api(path, init) {
          const response = await fetch(path, Object.assign({ headers: headers(), cache: "no-store" }, init || {}));
          if (response.status === 401) {
            $("token-panel").hidden = false;
            status("this service needs its read token", true);
            throw new Error("unauthorized");
          }
          if (!response.ok) {
            let message = response.statusText;
            try { message = (await response.json()).error.message; } catch (e) {}
            const error = new Error(message);
            error.status = response.status;
            // A service without top keys (--top-keys false) says so in the list, not in the status line.
            if (response.status !== 404) status(message, true);
            throw error;
          }
          return response;
        }

        function chart(svg, points, step, color) {
          const width = 900, height = 150, left = 44, bottom = 22, top = 8;
          const max = Math.max(1, ...points.map((p) => p.hits));
          const slot = (width - left) / Math.max(points.length, 1);
          const y = (v) => height - bottom - (v / max) * (height - bottom - top);
          const parts = [];
          for (const f of [0, 0.5, 1]) {
            const value = Math.round(max * f);
            parts.push(`<line class="grid" x1="${left}" x2="${width}" y1="${y(value)}" y2="${y(value)}"/>`);
            parts.push(`<text class="axis" x="${left - 6}" y="${y(value) + 4}" text-anchor="end">${format.format(value)}</text>`);
          }
          points.forEach((p, i) => {
            if (p.hits > 0) {
              const x = left + i * slot, h = height - bottom - y(p.hits);
              parts.push(`<rect x="${x.toFixed(1)}" y="${y(p.hits).toFixed(1)}" width="${Math.max(slot - 0.6, 0.6).toFixed(2)}" height="${h.toFixed(1)}" fill="${color}"><title>${new Date(p.start * 1000).toLocaleString()}: ${format.format(p.hits)}</title></rect>`);
            }
          });
          const ticks = 6;
          for (let t = 0; t <= ticks && points.length > 0; t++) {
            const i = Math.min(points.length - 1, Math.round((points.length - 1) * t / ticks));
            const x = left + i * slot + slot / 2;
            const anchor = t === 0 ? "start" : t === ticks ? "end" : "middle";
            const label = new Date(points[i].start * 1000).toLocaleTimeString([], Object.assign({ hour: "2-digit", minute: "2-digit", hourCycle: "h23" }, step >= 60 ? {} : { second: "2-digit" }));
            parts.push(`<text class="axis" x="${x}" y="${height - 6}" text-anchor="${anchor}">${label}</text>`);
          }
          svg.innerHTML = parts.join("");
        }

        function drawLive() {
          if (!state.now) return;
          const points = [];
          for (let t = state.now - 300; t < state.now; t++) points.push({ start: t, hits: state.live.get(t) || 0 });
          chart($("live-chart"), points, 1, "#4cc2ff");
        }

        async function loadLive() {
          const series = await (await api(`/series?key=${encodeURIComponent(state.key)}&range=300&step=1`)).json();
          state.live = new Map(series.points.map((p) => [p.start, p.hits]));
          state.now = series.now;
          drawLive();
        }

        async function loadDay() {
          const series = await (await api(`/series?key=${encodeURIComponent(state.key)}&range=86400&step=60`)).json();
          $("total-day").textContent = format.format(series.total);
          chart($("day-chart"), series.points, 60, "#7ee787");
        }

        async function loadTop() {
          const top = await (await api("/top?range=3600&limit=15")).json();
          const list = $("top");
          list.replaceChildren();
          if (top.keys.length === 0) {
            const empty = document.createElement("li");
            empty.className = "empty";
            empty.textContent = "no hits in the last hour";
            list.append(empty);
          }
          const most = Math.max(1, ...top.keys.map((k) => k.hits));
          for (const entry of top.keys) {
            const item = document.createElement("li");
            const button = document.createElement("button");
            button.className = "key";
            button.type = "button";
            button.dataset.key = entry.key;
            if (entry.key === state.key) button.setAttribute("aria-current", "true");
            const name = document.createElement("span");
            name.className = "name";
            name.textContent = entry.key;
            const bar = document.createElement("div");
            bar.className = "bar";
            bar.style.width = (100 * entry.hits / most).toFixed(1) + "%";
            name.append(bar);
            const count = document.createElement("span");
            count.className = "count";
            count.textContent = format.format(entry.hits);
            button.append(name, count);
            button.addEventListener("click", () => select(entry.key));
            item.append(button);
            list.append(item);
          }
        }

        // The stream, read with fetch (EventSource cannot send the token header); reconnects on its own.
        async function stream(key) {
          const controller = new AbortController();
          state.stream = controller;
          while (!controller.signal.aborted) {
            try {
              const response = await api(`/stream?key=${encodeURIComponent(key)}`, { signal: controller.signal });
              const reader = response.body.getReader();
              const decoder = new TextDecoder();
              let buffered = "";
              status("live");
              for (;;) {
                const { value, done } = await reader.read();
                if (done) break;
                buffered += decoder.decode(value, { stream: true });
                let end;
                while ((end = buffered.indexOf("\n\n")) >= 0) {
                  const block = buffered.slice(0, end);
                  buffered = buffered.slice(end + 2);
                  const type = (block.match(/^event: (.*)$/m) || [])[1];
                  const data = (block.match(/^data: (.*)$/m) || [])[1];
                  if (type === "hits" && key === state.key) onEvent(JSON.parse(data));
                  if (type === "unavailable") status("the store is unavailable; retrying", true);
                }
              }
            } catch (error) {
              if (controller.signal.aborted) return;
            }
            await new Promise((resolve) => setTimeout(resolve, 2000));
          }
        }

        function onEvent(event) {
          $("total-second").textContent = format.format(event.previous);
          $("total-minute").textContent = format.format(event.minute);
          $("total-hour").textContent = format.format(event.hour);
          $("total-day").textContent = format.format(event.day);
          state.live.set(event.now - 1, event.previous);
          state.now = event.now;
          for (const t of state.live.keys()) if (t < event.now - 300) state.live.delete(t);
          drawLive();
          status("live");
        }

        async function select(key) {
          state.key = key;
          history.replaceState(null, "", "#key=" + encodeURIComponent(key));
          $("current-key").textContent = key;
          $("key").value = key;
          for (const button of document.querySelectorAll(".key")) button.setAttribute("aria-current", String(button.dataset.key === key));
          for (const id of ["total-second", "total-minute", "total-hour", "total-day"]) $(id).textContent = "–";
          if (state.stream) state.stream.abort();
          try {
            await Promise.all([loadLive(), loadDay()]);
          } catch (error) {}
          stream(key);
        }

        $("key-form").addEventListener("submit", (event) => {
          event.preventDefault();
          const key = $("key").value.trim();
          if (key) select(key);
        });
        $("token-form").addEventListener("submit", (event) => {
          event.preventDefault();
          sessionStorage.setItem("hitcounter-read-token", $("token").value);
          $("token").value = "";
          $("token-panel").hidden = true;
          start();
        });

        function topFailed(error) {
          if (error.status !== 404) return;
          const item = document.createElement("li");
          item.className = "empty";
          item.textContent = error.message;
          $("top").replaceChildren(item);
        }

        function start() {
          loadTop().catch(topFailed);
          select(state.key);
        }
        setInterval(() => loadTop().catch(topFailed), 3000);
        setInterval(() => loadDay().catch(() => {}), 10000);
        start();
        </script>
        </body>
        </html>
        """#
}
