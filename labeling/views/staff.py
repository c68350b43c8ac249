"""The shape of every staff action on the training dashboard: a POSTed form, one service call,
a message, back to the dashboard."""

from django.contrib import messages
from django.shortcuts import redirect

from labeling.access import project_for_staff


def form_errors(form) -> str:
    """A bound form's errors as one line for a flash message."""
    return "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()) or "The form could not be read."


def staff_form_post(request, slug, form_class, act, *, refused: tuple[type[Exception], ...] = (),
                    invalid: str = ""):
    """Check the user is staff on the project (access.project_for_staff: 403/404), bind
    ``form_class`` to the POST and call ``act(project, cleaned_data)``, which does the work and
    returns a success message, a (level, message) pair, or None. An invalid form (prefixed by
    ``invalid``), or one of the ``refused`` errors raised by ``act``, is flashed as an error and
    nothing is done. Always redirects to the project's dashboard."""
    project = project_for_staff(request, slug)
    form = form_class(request.POST)
    if not form.is_valid():
        messages.error(request, f"{invalid}{form_errors(form)}")
        return redirect("labeling:dashboard", slug=project.slug)
    try:
        done = act(project, form.cleaned_data)
    except refused as exc:
        messages.error(request, str(exc))
    else:
        if done:
            level, text = done if isinstance(done, tuple) else (messages.SUCCESS, done)
            messages.add_message(request, level, text)
    return redirect("labeling:dashboard", slug=project.slug)
