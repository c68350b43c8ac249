"""The browser's pages and htmx partials, one module per part of the product: labeling (the
queue page, decide, undo, imports), demonstrations, evaluation, exports, quality, training (the
staff dashboard). Each view validates input, calls one service or selector and renders; staff
pages go through labeling.access."""
