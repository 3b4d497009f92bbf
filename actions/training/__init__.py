"""Training actions: the registration form, managing registrations, the session listing."""
