// pgsimilar web UI: the little the pages need beyond HTML. Everything works without it; with it,
// a picture can be dropped on the search form and is previewed before it is sent, and search URLs
// stay short.
"use strict";

(function () {
  function setUpImageDrop(form, input, zone, submit) {
    var preview = form.querySelector("[data-image-preview]");

    function showPreview() {
      var file = input.files && input.files[0];
      if (!preview) {
        return;
      }
      if (preview.src) {
        URL.revokeObjectURL(preview.src);
      }
      if (file && file.type.indexOf("image/") === 0) {
        preview.src = URL.createObjectURL(file);
        preview.hidden = false;
      } else {
        preview.removeAttribute("src");
        preview.hidden = true;
      }
    }

    input.addEventListener("change", showPreview);
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        zone.classList.add("is-dragging");
      });
    });
    ["dragleave", "dragend"].forEach(function (name) {
      zone.addEventListener(name, function () {
        zone.classList.remove("is-dragging");
      });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      zone.classList.remove("is-dragging");
      var files = event.dataTransfer && event.dataTransfer.files;
      if (!files || !files.length) {
        return;
      }
      input.files = files;
      showPreview();
      form.requestSubmit(submit);
    });
  }

  // A text search is a GET: keep its URL short and shareable by leaving out the fields left empty
  // (the file field, "Any" filters, an empty JSON filter); they are enabled again at once.
  function leaveOutEmptyFields(form, imageSubmit) {
    form.addEventListener("submit", function (event) {
      if (imageSubmit && event.submitter === imageSubmit) {
        return;
      }
      var skipped = Array.prototype.filter.call(form.elements, function (element) {
        var unchecked = (element.type === "radio" || element.type === "checkbox") && !element.checked;
        return element.name && element.name !== "q" && !unchecked && element.value === "";
      });
      skipped.forEach(function (element) {
        element.disabled = true;
      });
      window.setTimeout(function () {
        skipped.forEach(function (element) {
          element.disabled = false;
        });
      }, 0);
    });
  }

  function setUpSearchForm(form) {
    var input = form.querySelector("[data-image-input]");
    var zone = form.querySelector("[data-dropzone]");
    var submit = form.querySelector("[data-image-submit]");
    if (input && zone && submit) {
      setUpImageDrop(form, input, zone, submit);
    }
    leaveOutEmptyFields(form, submit);
  }

  function focusTarget() {
    // After "Find similar" the page opens at the results: move keyboard focus there too.
    if (window.location.hash) {
      var target = document.getElementById(window.location.hash.slice(1));
      if (target && target.hasAttribute("tabindex")) {
        target.focus();
      }
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-search-form]").forEach(setUpSearchForm);
    focusTarget();
  });
})();
