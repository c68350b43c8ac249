"""Template tags for the demonstration blocks that sit inside other pages (the labeler, the
training dashboard), so those pages' views stay as they are."""

from django import template

from labeling.selectors import demonstrations as demo_selectors

register = template.Library()


@register.simple_tag
def demonstration_due(project, user) -> bool:
    """Whether the annotator's next hand-out is a demonstration task (no query at share 0)."""
    return demo_selectors.demonstration_due(project=project, annotator=user)


@register.simple_tag
def demonstration_panel(project):
    return demo_selectors.demonstration_panel(project=project)
