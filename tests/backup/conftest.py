"""The object store fixtures of the media suite, shared."""

from tests.media.conftest import bucket_prefix, s3_endpoint

__all__ = ["bucket_prefix", "s3_endpoint"]
