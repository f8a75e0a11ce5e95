"""Rules shared by several features that belong to none of them: how an email or a phone is
recognised (``identifiers``) and the states of jobs, rewards, feedback and campaigns with their
transition tables (``states``). Imports only the kit and third-party libraries; the models and
every feature may import it (the layers are checked by ``make check``)."""
