"""A local S3-compatible server for the tests: moto's server mode (`moto[server]`), on 127.0.0.1
and a free port, with one empty bucket. The tap and target-postgres reach it as they reach AWS:
through the usual environment (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, ...), `env()`.
"""

from __future__ import annotations

import dataclasses
import uuid

import s3fs
from moto.server import ThreadedMotoServer


@dataclasses.dataclass
class S3Server:
    server: ThreadedMotoServer
    endpoint: str
    bucket: str

    def env(self) -> dict[str, str]:
        """The AWS settings botocore (so s3fs) reads, for this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "tap-branch-test",
            "AWS_SECRET_ACCESS_KEY": "tap-branch-test-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def fs(self) -> s3fs.S3FileSystem:
        env = self.env()
        return s3fs.S3FileSystem(
            key=env["AWS_ACCESS_KEY_ID"],
            secret=env["AWS_SECRET_ACCESS_KEY"],
            endpoint_url=self.endpoint,
            skip_instance_cache=True,
        )

    def objects(self, prefix: str = "") -> set[str]:
        """Every object's s3:// URL under `prefix` of the bucket."""
        fs = self.fs()
        return {f"s3://{key}" for key in fs.find(f"{self.bucket}/{prefix}")}

    def stop(self) -> None:
        self.server.stop()


def start_s3() -> S3Server:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    running = S3Server(server, f"http://{host}:{port}", f"tap-branch-{uuid.uuid4().hex[:12]}")
    running.fs().mkdir(running.bucket)
    return running
