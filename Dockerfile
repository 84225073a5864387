# tap-branch as an Airbyte source (a Docker-based custom connector). Not built or run by this
# project's tests (no container tooling on its machines); see docs/airbyte.md.
#   docker build -t tapbranch/source-branch:0.1.0 .
#   docker run --rm -i tapbranch/source-branch:0.1.0 spec
FROM python:3.11-slim

WORKDIR /airbyte/integration_code
COPY pyproject.toml README.md ./
COPY tap_branch ./tap_branch
COPY tap_branch_sandbox ./tap_branch_sandbox
RUN pip install --no-cache-dir '.[airbyte]' && rm -rf /root/.cache

# Not root: the connector needs no privilege (Airbyte's platform runs connectors as a user too).
RUN useradd --system --uid 1000 --create-home airbyte
USER airbyte

# Airbyte's platform runs the image's entrypoint with spec / check / discover / read.
ENV AIRBYTE_ENTRYPOINT="tap-branch-airbyte"
ENTRYPOINT ["tap-branch-airbyte"]

LABEL io.airbyte.name=tapbranch/source-branch
LABEL io.airbyte.version=0.1.0
