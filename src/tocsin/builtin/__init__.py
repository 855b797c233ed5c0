"""Built-in plugins. Each is registered through the ``tocsin.plugins``
entry-point group by tocsin's own pyproject, like any third-party plugin."""
