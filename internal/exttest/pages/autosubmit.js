// A page that sends its login form itself, with a username and password
// it chose (?u=, ?p=), the way ?how= says:
//   request    — form.requestSubmit() as soon as it loads;
//   click      — a script click on the submit button as soon as it loads;
//   afterclick — when the user clicks the unrelated OK button (the user
//                is active then), it types the values from script and
//                calls form.requestSubmit();
//   none       — nothing: the user types and sends the form.
(() => {
  const q = new URLSearchParams(location.search);
  const how = q.get("how") || "none";
  const form = document.getElementById("form");
  const fill = () => {
    document.getElementById("user").value = q.get("u") || "";
    document.getElementById("pass").value = q.get("p") || "";
  };
  if (how === "request" || how === "click") {
    addEventListener("load", () => {
      fill();
      if (how === "request") form.requestSubmit();
      else document.getElementById("submit").click();
    });
  }
  if (how === "afterclick") {
    document.getElementById("ok").addEventListener("click", () => {
      fill();
      form.requestSubmit();
    });
  }
})();
