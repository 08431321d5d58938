"""The SQL core: templates, the compiler (parse, authorize, rewrite, generate)."""
