"""``magicpose ui``, the local web page. ``uploads`` and ``jobs`` need no Gradio; ``app`` imports it when called."""
