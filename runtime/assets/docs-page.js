// Starts Swagger UI on the API docs page (src/docs.rs). The page hands over the OpenAPI document's
// URL and the proxy's root as data attributes, both relative to the page, so that the page works
// behind a path prefix and needs no inline script (its Content-Security-Policy forbids them).
(function () {
  "use strict";
  var element = document.getElementById("swagger-ui");
  var spec = new URL(element.dataset.openapi, document.baseURI);
  var root = new URL(element.dataset.root, document.baseURI);
  // The document's paths are the proxy's, from its root; Swagger UI calls them from the page's
  // origin. Behind a path prefix, "Try it out" must go through the prefix too.
  var prefix = root.pathname.replace(/\/$/, "");
  window.ui = SwaggerUIBundle({
    url: spec.href,
    domNode: element,
    deepLinking: true,
    // The public validator would be sent the document, and the page allows no other origin.
    validatorUrl: null,
    requestInterceptor: function (request) {
      if (!request.loadSpec && prefix !== "") {
        var url = new URL(request.url, document.baseURI);
        if (url.origin === location.origin && url.pathname.indexOf(prefix + "/") !== 0) {
          url.pathname = prefix + url.pathname;
          request.url = url.href;
        }
      }
      return request;
    },
    onComplete: function () {
      var title = window.ui.specSelectors.info().get("title");
      if (title) {
        document.title = title + " · API reference";
      }
    },
  });
})();
