"""The REST API (DRF): thin views over the same services and selectors as the web pages.

Annotators may only label (projects they are members of; next, submit, skip, flag, undo);
staff may do everything. Token authentication for scripts, the session for the browser.
"""
