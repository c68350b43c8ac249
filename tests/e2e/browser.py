"""Steps the browser tests share."""


def log_in(page, url: str, username: str, password: str = "pw") -> None:
    """Open ``url`` (the login page, or a page that redirects there) and log in through the form;
    the browser then follows the login's redirect."""
    page.goto(url)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
