# tap-branch as an Airbyte source (a Docker-based custom connector). Not built or run by this
# project's tests (no container tooling on its machines); see README, "In Airbyte".
#   docker build -t tap-branch-airbyte:0.1.0 .
#   docker run --rm -i tap-branch-airbyte:0.1.0 spec
FROM python:3.11-slim

WORKDIR /airbyte/integration_code
COPY pyproject.toml README.md ./
COPY tap_branch ./tap_branch
RUN pip install --no-cache-dir '.[airbyte]' && rm -rf /root/.cache

# Airbyte's platform runs the image's entrypoint with spec / check / discover / read.
ENV AIRBYTE_ENTRYPOINT="tap-branch-airbyte"
ENTRYPOINT ["tap-branch-airbyte"]

LABEL io.airbyte.name=tap-branch-airbyte
LABEL io.airbyte.version=0.1.0
