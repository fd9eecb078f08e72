// The reset page's show-password toggle and strength meter. The meter asks
// the service (same origin) for the same verdict a submission would get;
// without JavaScript the page works the same and the server says it on submit.
(function () {
  "use strict";
  var form = document.getElementById("reset-form");
  if (!form) return;
  var password = form.elements.password;
  var confirm = form.elements.password_confirm;
  var toggle = document.getElementById("toggle");
  var strength = document.getElementById("strength");
  var meter = document.getElementById("meter");
  var verdict = document.getElementById("verdict");
  var url = form.getAttribute("data-strength");
  var timer = null;
  var asked = 0;

  toggle.hidden = false;
  toggle.addEventListener("click", function () {
    var show = password.type === "password";
    password.type = confirm.type = show ? "text" : "password";
    toggle.textContent = toggle.getAttribute(show ? "data-hide" : "data-show");
    toggle.setAttribute("aria-pressed", show ? "true" : "false");
  });

  function check() {
    var value = password.value;
    if (!value) {
      strength.hidden = true;
      return;
    }
    var mine = ++asked;
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: "password=" + encodeURIComponent(value)
    }).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (answer) {
      if (!answer || mine !== asked) return;
      strength.hidden = false;
      meter.value = answer.score;
      verdict.textContent = answer.verdict;
      verdict.className = answer.ok ? "ok" : "weak";
    }).catch(function () {});
  }

  password.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(check, 350);
  });
})();
