// 2段階認証設定: show the parts that belong to the chosen option; confirm before turning it off.
(function () {
  var form = document.getElementById("two-step-form");
  if (!form) return;
  function value(name) {
    var checked = form.querySelector('input[name="' + name + '"]:checked');
    return checked ? checked.value : "";
  }
  function update() {
    var use = value("use") !== "no";
    var sms = value("method") === "sms";
    document.getElementById("method-section").hidden = !use;
    document.getElementById("sms-section").hidden = !sms;
    document.getElementById("totp-help").hidden = sms;
  }
  form.addEventListener("change", update);
  form.addEventListener("submit", function (event) {
    if (value("use") === "no" &&
        !window.confirm("2段階認証を利用しない設定にします。ユーザIDとパスワードのみでログインすることになりますが、よろしいですか？")) {
      event.preventDefault();
    }
  });
  update();
})();
