"""The web dashboard the daemon serves at ``/``: server-rendered pages for the people on call.

How a page is made (one Python module and one template):

* a module ``tocsin/web/dashboard/<page>.py`` with a ``routes() -> list[HTTPRoute]``
  declaring its paths, as the API modules do: ``access="read"`` for what only shows,
  the role the matching API call needs for what acts (``"admin"`` for every change). The
  auth middleware and the route table read these declarations; ``openapi`` stays None
  (pages are no API);
* its handler builds a plain dict and answers :func:`tocsin.web.dashboard.render.page`
  ``(request, "<page>.html", "<nav key>", **context)``: the template extends
  ``base.html`` (nav, banner, the CSRF token, assets) and fills ``{% block main %}``;
* the module is added to :data:`tocsin.web.dashboard.pages.PAGES`, and each of its routes
  to the table of docs/security.md (``tests/unit/web/test_auth.py`` checks both agree);
  its nav entry is in
  :data:`tocsin.web.dashboard.nav.NAV` (the one list of the nav; an entry whose path no
  page serves is not shown);
* a form that changes anything is ``method="post"``, carries
  ``<input type="hidden" name="csrf" value="{{ csrf }}">`` and its handler starts with
  ``refused = csrf.check(request, form)``: a link, an image or another site can never act;
* a handler that acts redirects (303) to :func:`tocsin.web.dashboard.render.back` (the
  form's ``next``, a path of this site), so the page works without JavaScript;
* every alert-supplied text goes through Jinja2's autoescape; links from alert text go
  through the ``safe_url`` filter (http and https only). Pages carry a Content-Security-
  Policy without inline scripts or styles: behaviour goes in ``static/dashboard.js``.

Static files are in ``static/`` and served under names with their content's hash
(:mod:`tocsin.web.dashboard.assets`); templates name them with ``{{ asset("dashboard.css") }}``.
"""
