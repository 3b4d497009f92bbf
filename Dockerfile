# The app image: the gateway (bot) and the action server (actions) share it; the
# command picks the process. Rasa has its own image (nlu/Dockerfile).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md constraints.txt ./
COPY ntsa_assistant ./ntsa_assistant
COPY bot ./bot
COPY actions ./actions
COPY rasa_sdk_plugins ./rasa_sdk_plugins
COPY web ./web
RUN pip install -c constraints.txt . && useradd --create-home --uid 10001 assistant
USER assistant

EXPOSE 5055 8080
CMD ["python", "-m", "bot"]
