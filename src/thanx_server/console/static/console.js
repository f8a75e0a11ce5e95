// The console's only script: progressive enhancement, written for this project (no library, no
// build step). Every page works without it. It does two things:
//
// 1. Live regions. An element with `data-live="<milliseconds>"` and an id is refreshed in place:
//    the script fetches the page's own URL (the same route and template, no second read path),
//    takes the element with the same id from the answer and swaps its content. A region whose
//    fresh copy has no `data-live` any more (a finished job) is swapped one last time and stops;
//    with `data-live-reload`, the page is reloaded then instead (its forms change too). A region
//    holding the keyboard focus is left alone until the focus leaves. Polling pauses while the
//    tab is hidden and stops when the session is gone (the answer is not the page any more).
// 2. Copy buttons. A `<button data-copy="<id>" hidden>` is shown and copies the value of the
//    element with that id (the request's curl command) to the clipboard.
(function () {
  "use strict";

  function liveRegions() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-live][id]"));
  }

  function swap(region, fresh) {
    if (region.contains(document.activeElement)) {
      return; // never pull a field or a button from under the keyboard
    }
    if (region.innerHTML !== fresh.innerHTML) {
      region.innerHTML = fresh.innerHTML;
    }
  }

  function poll() {
    var regions = liveRegions();
    if (regions.length === 0) {
      return;
    }
    var delay = Math.max(500, Math.min.apply(null, regions.map(function (r) {
      return parseInt(r.getAttribute("data-live"), 10) || 2000;
    })));
    window.setTimeout(function tick() {
      if (document.hidden) {
        window.setTimeout(tick, delay);
        return;
      }
      fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
        .then(function (response) {
          if (!response.ok || response.redirected) {
            throw new Error("not the page any more: " + response.status);
          }
          return response.text();
        })
        .then(function (text) {
          var doc = new DOMParser().parseFromString(text, "text/html");
          var reload = false;
          liveRegions().forEach(function (region) {
            var fresh = doc.getElementById(region.id);
            if (fresh === null) {
              region.removeAttribute("data-live");
              return;
            }
            if (!fresh.hasAttribute("data-live")) {
              region.removeAttribute("data-live");
              if (region.hasAttribute("data-live-reload")) {
                reload = true;
                return;
              }
            }
            swap(region, fresh);
          });
          if (reload) {
            window.location.reload();
          } else {
            poll();
          }
        })
        .catch(function () {
          liveRegions().forEach(function (region) {
            region.removeAttribute("data-live");
          });
        });
    }, delay);
  }

  function copyButtons() {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      var source = document.getElementById(button.getAttribute("data-copy"));
      var status = document.getElementById(button.getAttribute("aria-describedby") || "");
      if (source === null) {
        return;
      }
      button.hidden = false;
      button.addEventListener("click", function () {
        var text = source.value !== undefined ? source.value : source.textContent;
        function done(ok) {
          if (status !== null) {
            status.textContent = ok ? "Copied to the clipboard." : "Copy failed: select the text and copy it.";
          }
        }
        function fallback() {
          source.focus();
          source.select();
          var ok = false;
          try {
            ok = document.execCommand("copy");
          } catch (e) {
            ok = false;
          }
          button.focus();
          done(ok);
        }
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(function () { done(true); }, fallback);
        } else {
          fallback();
        }
      });
    });
  }

  function start() {
    copyButtons();
    poll();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
