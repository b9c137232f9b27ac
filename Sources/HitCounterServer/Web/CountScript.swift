/// `GET /count.js`: a page that includes it counts one view of its path on load (docs/web-counting.md):
///
///     <script async src="https://counter.example.com/count.js" data-prefix="page:"></script>
///
/// It sends `{"key": prefix + location.pathname}` (or `data-key` when set) with
/// `navigator.sendBeacon` to `POST /hit` of the service it came from, with `fetch(..., {keepalive:
/// true})` where beacons are missing. With `--respect-do-not-track`, it sends nothing when the browser
/// asks not to be tracked (and the service skips such hits anyway).
struct CountScript: Sendable {
    let respectsDoNotTrack: Bool

    var source: String {
        """
        (function () {
          "use strict";
          var script = document.currentScript;
          if (!script || !script.src) return;
          if (\(self.respectsDoNotTrack) && (navigator.doNotTrack === "1" || window.doNotTrack === "1" || navigator.globalPrivacyControl === true)) return;
          var key = script.getAttribute("data-key") || (script.getAttribute("data-prefix") || "") + location.pathname;
          var url = new URL("/hit", script.src).href;
          var body = JSON.stringify({ key: key });
          if (navigator.sendBeacon && navigator.sendBeacon(url, body)) return;
          fetch(url, { method: "POST", body: body, keepalive: true, mode: "cors", credentials: "omit", headers: { "Content-Type": "text/plain" } })
            .catch(function () {});
        })();

        """
    }
}
