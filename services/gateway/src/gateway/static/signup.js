// The six-step application wizard (guide §3): one page, steps shown one at a time, what was typed kept
// in sessionStorage (so 戻る and a reload lose nothing), the same rules and messages as the signup API.
(function () {
  "use strict";

  // The portal's one time format: YYYY/MM/DD HH:MM in Japan time, whatever the browser's zone.
  function formatJst(moment) {
    var jst = new Date(moment.getTime() + 9 * 3600 * 1000);
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return jst.getUTCFullYear() + "/" + two(jst.getUTCMonth() + 1) + "/" + two(jst.getUTCDate()) + " " +
      two(jst.getUTCHours()) + ":" + two(jst.getUTCMinutes());
  }

  var STORAGE = "signup-wizard";
  var MAX_UNITS = 10;
  var MAX_USERS = 3;
  var MAX_DESTINATIONS = 10;
  var CONFIRM_TEXT = "入力した内容で申込みます。よろしいですか？";
  var UNAVAILABLE = "ただいま申込みを受け付けられません。しばらくしてから再度お試しください。";
  var DESTINATION_FIELDS = ["company_name", "last_name", "first_name", "department", "postal_code", "prefecture", "address", "phone"];
  var EMAIL = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$/;
  var HYPHENS = /[-‐‑‒–—―−ー－]/g;

  var config = JSON.parse(document.getElementById("signup-config").textContent);
  var questions = config.questions || [];
  var form = document.getElementById("signup-form");
  var state = load();

  function newKey() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function blank() {
    return {
      step: 1,
      key: newKey(),
      data: {
        company: { prefecture: config.prefectures[0] },
        destinations: [{ prefecture: config.prefectures[0], units: "1" }],
        login_users: [{}],
        answers: {}
      }
    };
  }

  function load() {
    try {
      var saved = JSON.parse(sessionStorage.getItem(STORAGE) || "null");
      if (saved && saved.data && saved.key) return saved;
    } catch (e) { /* a damaged entry starts a fresh wizard */ }
    return blank();
  }

  function save() {
    sessionStorage.setItem(STORAGE, JSON.stringify(state));
  }

  // --- values by field path ("destinations.0.units") ---

  function getPath(path) {
    var parts = path.split("."), target = state.data;
    for (var i = 0; i < parts.length; i++) {
      if (target == null) return "";
      target = target[parts[i]];
    }
    return target == null ? "" : String(target);
  }

  function setPath(path, value) {
    var parts = path.split("."), target = state.data;
    for (var i = 0; i < parts.length - 1; i++) {
      if (target[parts[i]] == null) target[parts[i]] = {};
      target = target[parts[i]];
    }
    target[parts[parts.length - 1]] = value;
  }

  function fill() {
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name) return;
      var value = getPath(el.name);
      if (el.type === "radio") el.checked = el.value === value;
      else if (el.tagName === "SELECT") {
        el.value = value || el.options[0].value;
        if (!value) setPath(el.name, el.value);
      }
      else el.value = value;
    });
  }

  // --- repeated blocks ---

  function renderBlocks(containerId, templateId, items) {
    var container = document.getElementById(containerId);
    var template = document.getElementById(templateId).innerHTML;
    container.innerHTML = "";
    items.forEach(function (_, i) {
      var holder = document.createElement("div");
      holder.innerHTML = template.replace(/__i__/g, String(i));
      var block = holder.firstElementChild;
      block.querySelector("[data-number]").textContent = items.length > 1 ? String(i + 1) : "";
      var remove = block.querySelector("[data-action^='remove-']");
      if (remove) remove.hidden = items.length === 1;
      container.appendChild(block);
    });
  }

  function renderAll() {
    renderBlocks("destinations", "destination-template", state.data.destinations);
    renderBlocks("login-users", "user-template", state.data.login_users);
    document.querySelector("[data-action='add-destination']").disabled = state.data.destinations.length >= MAX_DESTINATIONS;
    document.querySelector("[data-action='add-user']").disabled = state.data.login_users.length >= MAX_USERS;
    fill();
    show(state.step);
  }

  // --- steps ---

  function hasQuestions() { return questions.length > 0; }

  function show(step) {
    state.step = step;
    document.querySelectorAll(".signup-step").forEach(function (section) {
      section.hidden = Number(section.dataset.step) !== step;
    });
    document.querySelectorAll("[data-progress]").forEach(function (item) {
      var n = Number(item.dataset.progress);
      item.classList.toggle("current", n === step);
      item.classList.toggle("done", n < step);
      item.classList.toggle("skipped", n === 3 && !hasQuestions());
      if (n === step) item.setAttribute("aria-current", "step"); else item.removeAttribute("aria-current");
    });
    if (step === 5) renderReview();
    if (step < 6) save();
    window.scrollTo(0, 0);
  }

  function nextOf(step) { return step === 2 && !hasQuestions() ? 4 : step + 1; }
  function previousOf(step) { return step === 4 && !hasQuestions() ? 2 : step - 1; }

  // --- rules (the same as signup.models, with the same messages) ---

  function nfkc(value) { return (value || "").normalize("NFKC").replace(/\s/g, ""); }
  function digits(value) { return nfkc(value).replace(HYPHENS, ""); }

  function Checker() { this.errors = {}; }
  Checker.prototype.required = function (path, label, max) {
    var value = getPath(path).trim();
    max = max || 100;
    if (!value) this.errors[path] = label + "を入力してください。";
    else if (value.length > max) this.errors[path] = label + "は" + max + "文字以内で入力してください。";
  };
  Checker.prototype.optional = function (path, label) {
    if (getPath(path).trim().length > 100) this.errors[path] = label + "は100文字以内で入力してください。";
  };
  Checker.prototype.name = function (prefix) {
    this.required(prefix + ".last_name", "姓", 50);
    this.required(prefix + ".first_name", "名", 50);
  };
  Checker.prototype.emailPair = function (prefix) {
    var email = getPath(prefix + ".email").trim(), again = getPath(prefix + ".email_confirmation").trim();
    if (!email) this.errors[prefix + ".email"] = "メールアドレスを入力してください。";
    else if (email.length > 254 || !EMAIL.test(email)) this.errors[prefix + ".email"] = "メールアドレスの形式が正しくありません。";
    if (!again) this.errors[prefix + ".email_confirmation"] = "確認用メールアドレスを入力してください。";
    else if (email && again !== email) this.errors[prefix + ".email_confirmation"] = "メールアドレスが一致しません。";
    return email;
  };
  Checker.prototype.postal = function (path) {
    var value = getPath(path).trim(), normalised = nfkc(value).replace(HYPHENS, "-");
    if (!value) this.errors[path] = "郵便番号を入力してください。";
    else if (!/^\d{3}-?\d{4}$/.test(normalised)) this.errors[path] = "郵便番号は7桁の数字で入力してください。";
  };
  Checker.prototype.prefecture = function (path) {
    var value = getPath(path);
    if (!value) this.errors[path] = "都道府県を選択してください。";
    else if (config.prefectures.indexOf(value) < 0) this.errors[path] = "都道府県を一覧から選択してください。";
  };
  Checker.prototype.phone = function (path, label, required) {
    var value = getPath(path).trim();
    if (!value) { if (required) this.errors[path] = label + "を入力してください。"; return; }
    if (!/^\d{10,11}$/.test(digits(value))) this.errors[path] = label + "は10桁または11桁の数字で入力してください（ハイフン可）。";
  };
  Checker.prototype.address = function (prefix) {
    this.postal(prefix + ".postal_code");
    this.prefecture(prefix + ".prefecture");
    this.required(prefix + ".address", "住所", 200);
    this.phone(prefix + ".phone", "電話番号", true);
  };

  var rules = {
    1: function (c) {
      c.required("company.company_name", "会社名");
      c.name("company");
      c.optional("company.department", "部署名");
      c.optional("company.position", "役職");
      c.emailPair("company");
      c.address("company");
    },
    2: function (c) {
      var total = 0;
      state.data.destinations.forEach(function (_, i) {
        var p = "destinations." + i;
        c.required(p + ".company_name", "会社名");
        c.name(p);
        c.optional(p + ".department", "部署名");
        c.address(p);
        var units = nfkc(getPath(p + ".units"));
        if (!units) c.errors[p + ".units"] = "台数を入力してください。";
        else if (!/^\d{1,3}$/.test(units) || Number(units) < 1) c.errors[p + ".units"] = "台数は1以上の整数で入力してください。";
        else if (Number(units) > MAX_UNITS) c.errors[p + ".units"] = "台数は合計10台までです。";
        else total += Number(units);
      });
      if (total > MAX_UNITS) c.errors.destinations = "台数は合計10台までです（現在" + total + "台）。";
    },
    3: function (c) {
      questions.forEach(function (q) {
        var path = "answers." + q.question_id, value = getPath(path).trim();
        var when = q.required_when;
        var required = q.required || (when && getPath("answers." + when.question_id) === when.answer);
        if (!value) {
          if (required) c.errors[path] = q.kind === "choice" ? "選択してください。" : "この項目を入力してください。";
        } else if (q.kind === "choice" && q.options.indexOf(value) < 0) c.errors[path] = "選択肢から選んでください。";
        else if (value.length > 200) c.errors[path] = "200文字以内で入力してください。";
      });
    },
    4: function (c) {
      var seen = {};
      state.data.login_users.forEach(function (_, i) {
        var p = "login_users." + i;
        c.name(p);
        var email = c.emailPair(p);
        if (email && !c.errors[p + ".email"]) {
          if (seen[email.toLowerCase()]) c.errors[p + ".email"] = "同じメールアドレスのユーザが既に入力されています。";
          seen[email.toLowerCase()] = true;
        }
        c.phone(p + ".mobile", "携帯番号", false);
      });
    }
  };

  function validate(step) {
    var checker = new Checker();
    if (rules[step]) rules[step](checker);
    return checker.errors;
  }

  // --- messages beside the fields ---

  function clearErrors() {
    document.querySelectorAll("[data-error-for]").forEach(function (el) { el.hidden = true; el.textContent = ""; });
    document.querySelectorAll(".has-error").forEach(function (el) { el.classList.remove("has-error"); });
  }

  function showErrors(errors) {
    clearErrors();
    var first = null;
    Object.keys(errors).forEach(function (path) {
      var slot = document.querySelector("[data-error-for='" + CSS.escape(path) + "']");
      if (!slot) slot = document.querySelector("[data-error-for='_form']");
      slot.textContent = slot.textContent ? slot.textContent + " " + errors[path] : errors[path];
      slot.hidden = false;
      var holder = document.querySelector("[data-field='" + CSS.escape(path) + "']");
      if (holder) {
        holder.classList.add("has-error");
        if (!first) first = holder.querySelector("input, select");
      }
    });
    if (first) first.focus();
  }

  function stepOfError(path) {
    if (path.indexOf("company") === 0) return 1;
    if (path.indexOf("destinations") === 0) return 2;
    if (path.indexOf("answers") === 0) return 3;
    if (path.indexOf("login_users") === 0) return 4;
    return 5;
  }

  // --- step 5: everything on one page ---

  function esc(value) {
    var div = document.createElement("div");
    div.textContent = value == null ? "" : String(value);
    return div.innerHTML;
  }

  function table(title, rows) {
    return '<div class="card review"><h2 class="card__title">' + esc(title) + '</h2><table class="table review-table"><tbody>' +
      rows.map(function (r) { return "<tr><th>" + esc(r[0]) + "</th><td>" + esc(r[1]) + "</td></tr>"; }).join("") +
      "</tbody></table></div>";
  }

  function renderReview() {
    var d = state.data, c = d.company, html = "";
    html += table("会社情報", [
      ["会社名", c.company_name], ["氏名", (c.last_name || "") + " " + (c.first_name || "")],
      ["部署名", c.department], ["役職", c.position], ["メールアドレス", c.email],
      ["郵便番号", digits(c.postal_code)], ["都道府県", c.prefecture], ["住所", c.address], ["電話番号", digits(c.phone)]
    ]);
    d.destinations.forEach(function (x, i) {
      html += table("UTM送付先情報" + (d.destinations.length > 1 ? " " + (i + 1) : ""), [
        ["会社名", x.company_name], ["氏名", (x.last_name || "") + " " + (x.first_name || "")], ["部署名", x.department],
        ["郵便番号", digits(x.postal_code)], ["都道府県", x.prefecture], ["住所", x.address], ["電話番号", digits(x.phone)],
        ["台数", nfkc(x.units)]
      ]);
    });
    if (hasQuestions()) {
      html += table("追加情報", questions.map(function (q) { return [q.text, d.answers[q.question_id] || ""]; }));
    }
    d.login_users.forEach(function (u, i) {
      html += table("ユーザ情報" + (d.login_users.length > 1 ? " " + (i + 1) : ""), [
        ["氏名", (u.last_name || "") + " " + (u.first_name || "")], ["メールアドレス", u.email], ["携帯番号", digits(u.mobile)]
      ]);
    });
    document.getElementById("review").innerHTML = html;
  }

  // --- submit ---

  function payload() {
    var d = state.data, answers = {};
    questions.forEach(function (q) { answers[q.question_id] = d.answers[q.question_id] || ""; });
    return { company: d.company, destinations: d.destinations, login_users: d.login_users, answers: answers };
  }

  function submit(button) {
    if (!window.confirm(CONFIRM_TEXT)) return;
    button.disabled = true;
    clearErrors();
    fetch("/signup/applications", {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Idempotency-Key": state.key,
        "X-CSRF-Token": document.querySelector("meta[name='csrf-token']").content
      },
      body: JSON.stringify(payload())
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        return { status: response.status, body: body };
      });
    }).then(function (result) {
      if (result.status === 200 || result.status === 201) return sent(result.body);
      var errors = (result.body && result.body.errors) || { _form: UNAVAILABLE };
      if (result.status === 403) errors = { _form: "画面の有効期限が切れました。ページを再読み込みしてから、もう一度「申込み」をクリックしてください。" };
      var steps = Object.keys(errors).map(stepOfError);
      show(Math.min.apply(null, steps));
      showErrors(errors);
    }).catch(function () {
      showErrors({ _form: UNAVAILABLE });
    }).then(function () { button.disabled = false; });
  }

  function sent(body) {
    sessionStorage.removeItem(STORAGE);
    document.querySelector("[data-sent='email']").textContent = body.email;
    document.querySelector("[data-sent='application_number']").textContent = body.application_number;
    var expires = new Date(body.expires_at);
    document.querySelector("[data-sent='expires_at']").textContent = isNaN(expires) ? "" : formatJst(expires);
    show(6);
  }

  // --- events ---

  form.addEventListener("input", function (event) {
    var el = event.target;
    if (!el.name) return;
    setPath(el.name, el.value);
    save();
  });
  form.addEventListener("change", function (event) {
    var el = event.target;
    if (el.name) { setPath(el.name, el.value); save(); }
  });
  form.addEventListener("submit", function (event) { event.preventDefault(); });

  form.addEventListener("click", function (event) {
    var button = event.target.closest("[data-action]");
    if (!button) return;
    var action = button.dataset.action;
    var block = button.closest("[data-index]");
    var index = block ? Number(block.dataset.index) : -1;
    if (action === "next") {
      var errors = validate(state.step);
      if (Object.keys(errors).length) return showErrors(errors);
      clearErrors();
      show(nextOf(state.step));
    } else if (action === "back") {
      clearErrors();
      show(previousOf(state.step));
    } else if (action === "submit") {
      submit(button);
    } else if (action === "add-destination" && state.data.destinations.length < MAX_DESTINATIONS) {
      state.data.destinations.push({ prefecture: config.prefectures[0], units: "1" });
      renderAll();
    } else if (action === "remove-destination" && state.data.destinations.length > 1) {
      state.data.destinations.splice(index, 1);
      clearErrors();
      renderAll();
    } else if (action === "copy-basic") {
      DESTINATION_FIELDS.forEach(function (name) {
        state.data.destinations[index][name] = state.data.company[name] || "";
      });
      renderAll();
    } else if (action === "add-user" && state.data.login_users.length < MAX_USERS) {
      state.data.login_users.push({});
      renderAll();
    } else if (action === "remove-user" && state.data.login_users.length > 1) {
      state.data.login_users.splice(index, 1);
      clearErrors();
      renderAll();
    }
  });

  if (state.step === 3 && !hasQuestions()) state.step = 4;
  if (state.step > 5) state.step = 5;
  renderAll();
})();
