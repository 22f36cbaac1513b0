# The image for api, worker, beat and the one-shot migrate/buckets services in compose.yaml.
FROM python:3.11.14-slim-bookworm

# ffprobe (from ffmpeg) reads video duration and resolution when media is processed.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /var/lib/aula aula

WORKDIR /app
COPY pyproject.toml README.md ./
COPY lms ./lms
COPY courses ./courses
COPY media ./media
COPY enrolments ./enrolments
COPY certificates ./certificates
COPY workers ./workers
RUN pip install --no-cache-dir .

USER aula
ENV LMS_ENV=production LMS_DATA_DIR=/var/lib/aula PYTHONUNBUFFERED=1
EXPOSE 8000
CMD ["lms", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
