# One image for all nine services and the gateway; docker-compose.yml picks the service by its
# command (`uvicorn <package>.main:app --port N`). The default command runs the gateway.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /app

# The pinned runtime dependencies from pyproject.toml (no dev extras) in their own layer, so a
# code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; open('/tmp/requirements.txt', 'w').write('\n'.join(deps) + '\n')" \
 && pip install -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# The project itself (see .dockerignore: no tests, no virtualenv, no local keys or .env).
COPY . .
RUN pip install --no-deps . \
 && rm -rf build ./*.egg-info \
 && groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin app \
 && install -d -o app -g app -m 0700 /var/lib/flightbook/keys /var/lib/flightbook/service-keys

# Non-root. The keys directories hold the auth service's signing key and the admin password,
# and the services' key pairs (named volumes in docker-compose.yml, initialised with this
# ownership).
USER 10001:10001

# auth, flight search, seats, booking, payment, discount, ticket, notification, gateway
EXPOSE 3000 4000 5000 6000 7000 8000 9000 9100 8080

CMD ["uvicorn", "api_gateway.main:app", "--http", "shared.serve:HttpProtocol", "--host", "0.0.0.0", "--port", "8080", "--no-access-log"]
