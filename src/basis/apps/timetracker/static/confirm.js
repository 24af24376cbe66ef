// Asks before a staff page's form changes anything: the button's data-confirm is the question.
"use strict";
document.addEventListener("submit", function (event) {
  const button = event.submitter;
  const question = button && button.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});
