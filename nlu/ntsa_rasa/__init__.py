"""What the Rasa server needs beyond Rasa itself: an SQL tracker store that encrypts what
people wrote, a lock store that follows ``REDIS_URL``, and a readiness endpoint.

It runs inside Rasa's own environment (Python 3.10, rasa 3.6), never beside our app
package: ``tools/stack.py`` and ``nlu/Dockerfile`` put ``nlu/`` on ``PYTHONPATH`` and
``nlu/endpoints.yml`` / ``nlu/credentials.yml`` name the classes.
"""
