FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=inocd22.settings.production
RUN apt-get update && apt-get install -y --no-install-recommends \
      libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core gettext curl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.lock .
RUN pip install --no-cache-dir uv && uv pip install --system --no-cache -r requirements.lock
COPY . .
RUN DJANGO_SECRET_KEY=build-only ALLOWED_HOSTS=build python manage.py collectstatic --noinput \
    && DJANGO_SECRET_KEY=build-only ALLOWED_HOSTS=build python manage.py compilemessages --ignore=.venv
RUN useradd --create-home inocd22 && mkdir -p var && chown -R inocd22 var
USER inocd22
EXPOSE 8000
CMD ["gunicorn", "inocd22.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "120"]
