"""Authentication and authorization: token values, scopes, JWTs and the Principal."""
